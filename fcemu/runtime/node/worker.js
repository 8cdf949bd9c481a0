'use strict';
/*
 * fcemu's Node.js worker: runs one function's handler, one process per instance.
 *
 * Started by fcemu/runtime/nodejs.py as `sh -c SHIM node worker.js`: the shim moves the
 * protocol pipes off the standard descriptors (frames arrive on fd 3, replies leave on
 * fd 4; fd 0 is /dev/null and fd 1 is fd 2, the instance's output), so whatever the
 * handler or its children print never disturbs the protocol. The protocol is the Python
 * worker's (fcemu/runtime/_worker_main.py and protocol.py): 4-byte big-endian length +
 * UTF-8 JSON frames, bytes as Base64; "hello" once, then one result per "init" or
 * "invoke", an array ["result", request_id, kind, body, error_type, maxrss_kb, children]
 * (protocol.py's RESULT_*); "log" frames carry a request's output when several requests share the
 * instance (FCEMU_INSTANCE_CONCURRENCY above 1). Private settings arrive as FCEMU_*
 * variables and are removed before user code runs.
 *
 * What a handler sees follows FC's Node.js runtime docs: `handler(event, context,
 * callback)` or `async (event, context)`, the event a Buffer, a context with requestId,
 * credentials, function, service, region, accountId and logger; CommonJS, and ES modules
 * (.mjs or "type": "module") from nodejs18 on; errors as {errorMessage, errorType,
 * stackTrace}. What a result reports of this process (its peak memory, whether it may
 * have child processes) is usage.js's; its logs (markers, per-request output, console.*
 * and context.logger lines) are logs.js's. Both are found next to this file (require).
 * Standard library only.
 */

const fs = require('fs');
const path = require('path');
const net = require('net');
const url = require('url');
const util = require('util');
const { AsyncLocalStorage } = require('async_hooks');
const { maxrssKb, mayHaveChildren } = require('./usage');
const { setUpLogs } = require('./logs');

const IN_FD = 3;
const OUT_FD = 4;
const env = process.env;
const settings = {
  concurrency: parseInt(env.FCEMU_INSTANCE_CONCURRENCY || '1', 10) || 1,
  initializer: env.FCEMU_INITIALIZER || '',
  preStop: env.FCEMU_PRE_STOP || '',
  logProject: env.FCEMU_LOG_PROJECT || '',
  logStore: env.FCEMU_LOG_STORE || '',
};
for (const name of Object.keys(env)) {
  if (name.startsWith('FCEMU_')) delete env[name];
}
const RUNTIME = env.FC_RUNTIME || 'nodejs20';
const MAJOR = parseInt(RUNTIME.replace(/^nodejs/, ''), 10) || 0;
const CODE_DIR = process.cwd();
const THREADED = settings.concurrency > 1;
const current = new AsyncLocalStorage();
const UNHANDLED = 'UnhandledInvocationError';
const INITIALIZATION_ERROR = 'InitializationError';
const CREDENTIAL_ENV = {
  accessKeyId: 'ALIBABA_CLOUD_ACCESS_KEY_ID',
  accessKeySecret: 'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
  securityToken: 'ALIBABA_CLOUD_SECURITY_TOKEN',
};

// -- frames ---------------------------------------------------------------------------

function writeAll(fd, data) {
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += fs.writeSync(fd, data, offset, data.length - offset);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
    }
  }
}

function send(doc) {
  const body = Buffer.from(JSON.stringify(doc), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  writeAll(OUT_FD, Buffer.concat([header, body]));
}

// -- logs (logs.js) --------------------------------------------------------------------

const { logLine, flushLog, logger } = setUpLogs({
  threaded: THREADED, major: MAJOR, levelName: env.ALIYUN_FC_LOG_LEVEL, current, send, writeAll,
});

// -- errors ---------------------------------------------------------------------------

// This file's and logs.js's frames are left out of what a handler's error shows.
const OURS = [__filename, path.join(__dirname, 'logs.js')];

function ours(line) {
  return OURS.some((file) => line.includes(file) || line.includes(url.pathToFileURL(file).href));
}

/** FC's error JSON for a thrown value: errorMessage, errorType, stackTrace (lines). */
function errorBody(value) {
  if (value instanceof Error || (value && typeof value === 'object' && 'message' in value)) {
    const stack = String(value.stack || `${value.name || 'Error'}: ${value.message}`)
      .split('\n')
      .filter((line) => !ours(line));
    const type = value.name || (value.constructor && value.constructor.name) || 'Error';
    return { errorMessage: String(value.message), errorType: String(type), stackTrace: stack };
  }
  let message;
  try {
    message = typeof value === 'string' ? value : JSON.stringify(value);
  } catch (err) {
    message = String(value);
  }
  return { errorMessage: String(message), errorType: typeof value };
}

function logError(requestId, value) {
  const text = value instanceof Error ? (value.stack || String(value)) : util.inspect(value);
  logLine(requestId, text.split('\n').filter((line) => !ours(line)).join('\n'));
}

class LoadError extends Error {
  constructor(body) {
    super(body.errorMessage);
    this.body = body;
  }
}

// -- loading handlers -------------------------------------------------------------------

const modules = new Map(); // file -> exports (a promise while loading)

function isModuleType(dir) {
  for (let at = dir; ; at = path.dirname(at)) {
    try {
      const doc = JSON.parse(fs.readFileSync(path.join(at, 'package.json'), 'utf8'));
      return doc.type === 'module';
    } catch (err) {
      if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR') return false;
    }
    if (at === CODE_DIR || path.dirname(at) === at) return false;
  }
}

async function loadModule(name) {
  const base = path.resolve(CODE_DIR, name);
  const found = ['.js', '.mjs', '.cjs'].map((ext) => base + ext).find((f) => fs.existsSync(f));
  if (!found) {
    throw new LoadError({
      errorMessage: `Cannot find module '${name}': no ${name}.js, ${name}.mjs or ${name}.cjs in the code directory`,
      errorType: 'HandlerNotFound',
    });
  }
  const esm = found.endsWith('.mjs') || (found.endsWith('.js') && isModuleType(path.dirname(found)));
  if (esm && MAJOR && MAJOR < 18) {
    throw new LoadError({
      errorMessage: `${path.basename(found)} is an ES module: Function Compute runs ES modules from nodejs18 on; use runtime nodejs18 or later, or CommonJS (module.exports)`,
      errorType: 'ImportModuleError',
    });
  }
  if (!modules.has(found)) {
    modules.set(found, esm ? import(url.pathToFileURL(found).href) : Promise.resolve().then(() => require(found)));
  }
  try {
    return await modules.get(found);
  } catch (err) {
    modules.delete(found);
    const body = errorBody(err);
    throw new LoadError({ ...body, errorMessage: `Unable to import module '${name}': ${body.errorMessage}`, errorType: body.errorType });
  }
}

async function loadHandler(spec) {
  const dot = spec.lastIndexOf('.');
  if (dot <= 0 || dot === spec.length - 1) {
    throw new LoadError({
      errorMessage: `Invalid handler '${spec}': expected <file>.<function>, e.g. index.handler`,
      errorType: 'HandlerNotFound',
    });
  }
  const name = spec.slice(0, dot);
  const attr = spec.slice(dot + 1);
  const exported = await loadModule(name);
  let handler = exported ? exported[attr] : undefined;
  if (typeof handler !== 'function' && exported && exported.default && typeof exported.default === 'object') {
    handler = exported.default[attr]; // CommonJS loaded through import()
  }
  if (typeof handler !== 'function') {
    throw new LoadError({
      errorMessage: `Handler '${attr}' is missing on module '${name}'`,
      errorType: 'HandlerNotFound',
    });
  }
  return handler;
}

// -- running ------------------------------------------------------------------------------

function makeContext(request) {
  const credentials = request.credentials || {};
  const creds = {
    accessKeyId: credentials.access_key_id || '',
    accessKeySecret: credentials.access_key_secret || '',
    securityToken: credentials.security_token || '',
  };
  for (const [key, name] of Object.entries(CREDENTIAL_ENV)) env[name] = creds[key];
  const qualifier = request.qualifier || 'LATEST';
  const fn = {
    name: env.FC_FUNCTION_NAME,
    handler: env.FC_FUNCTION_HANDLER,
    memory: parseInt(env.FC_FUNCTION_MEMORY_SIZE, 10),
    timeout: parseInt(env.FC_TIMEOUT, 10),
  };
  return {
    requestId: request.request_id,
    credentials: creds,
    function: fn,
    service: {
      name: '', logProject: settings.logProject, logStore: settings.logStore,
      qualifier, versionId: request.version_id || '',
    },
    region: env.FC_REGION,
    accountId: env.FC_ACCOUNT_ID,
    logger,
  };
}

/** Calls fn with the args and a callback; settles with the callback or the returned promise. */
function callHandler(fn, args) {
  let resolve;
  let reject;
  const settledBy = new Promise((res, rej) => { resolve = res; reject = rej; });
  let settled = false;
  const callback = (err, data) => {
    if (settled) return;
    settled = true;
    if (err !== null && err !== undefined) reject(err);
    else resolve(data);
  };
  // called here, not in a Promise executor: a synchronous throw is the handler's own frame
  const returned = fn(...args, callback);
  if (returned && typeof returned.then === 'function') {
    returned.then((data) => callback(null, data),
      (err) => callback(err === undefined || err === null ? new Error(String(err)) : err));
  }
  return settledBy;
}

function encodeResult(value) {
  if (value === undefined || value === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  const text = JSON.stringify(value);
  return Buffer.from(text === undefined ? '' : text, 'utf8');
}

let handlerPromise = null;

async function run(request) {
  const context = makeContext(request);
  if (request.type === 'init' || request.type === 'prestop') {
    const hook = await loadHandler(request.type === 'init' ? settings.initializer : settings.preStop);
    await callHandler(hook, [context]);
    return Buffer.alloc(0);
  }
  if (!handlerPromise) {
    handlerPromise = loadHandler(env.FC_FUNCTION_HANDLER);
    handlerPromise.catch(() => { handlerPromise = null; });
  }
  const handler = await handlerPromise;
  const value = await callHandler(handler, [Buffer.from(request.payload || '', 'base64'), context]);
  return encodeResult(value);
}

const active = new Map(); // request ID -> request store

/** One request at a time, the server writes an Invoke's markers itself (as it sends the
 * request and as it reads the reply: fcemu/runtime/worker_logs.py), unless the frame
 * says "markers": output written to a pipe is there when the write returns, so all the
 * request printed comes before its reply. */
function writesMarkers(request, phase) {
  return THREADED || phase !== 'Invoke' || Boolean(request.markers);
}

function answer(request) {
  const requestId = request.request_id;
  const phase = { init: 'Initialize', prestop: 'PreStop' }[request.type] || 'Invoke';
  const store = { requestId };
  active.set(requestId, store);
  current.run(store, () => {
    if (writesMarkers(request, phase)) logLine(requestId, `FC ${phase} Start RequestId: ${requestId}`);
    run(request).then(
      (body) => finish(request, phase, 'ok', body, ''),
      (err) => {
        if (err instanceof LoadError) {
          logLine(requestId, err.body.errorMessage);
          finish(request, phase, 'error', Buffer.from(JSON.stringify(err.body)),
            phase === 'Initialize' ? INITIALIZATION_ERROR : UNHANDLED);
          return;
        }
        logError(requestId, err);
        finish(request, phase, 'error', Buffer.from(JSON.stringify(errorBody(err))),
          phase === 'Initialize' ? INITIALIZATION_ERROR : UNHANDLED);
      },
    );
  });
}

function finish(request, phase, kind, body, errorType) {
  const requestId = request.request_id;
  if (!active.has(requestId)) return;
  active.delete(requestId);
  if (writesMarkers(request, phase)) logLine(requestId, `FC ${phase} End RequestId: ${requestId}`);
  if (THREADED) flushLog(requestId);
  send(['result', requestId, kind, body.toString('base64'), errorType, maxrssKb(),
    mayHaveChildren()]);
}

// An error no handler's promise caught ends the instance, as Node.js does by default:
// it is logged to the request it belongs to, and every request running on it crashes.
function fatal(err) {
  const store = current.getStore();
  logError(store ? store.requestId : '', err);
  for (const requestId of active.keys()) if (THREADED) flushLog(requestId);
  process.exit(1);
}
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

// -- the protocol loop ------------------------------------------------------------------------

function serve() {
  const input = new net.Socket({ fd: IN_FD, readable: true, writable: false });
  let buffer = Buffer.alloc(0);
  input.on('data', (chunk) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    while (buffer.length >= 4) {
      const size = buffer.readUInt32BE(0);
      if (buffer.length < 4 + size) break;
      const frame = JSON.parse(buffer.subarray(4, 4 + size).toString('utf8'));
      buffer = buffer.subarray(4 + size);
      if (frame.type === 'init' || frame.type === 'invoke' || frame.type === 'prestop') answer(frame);
    }
  });
  input.on('end', () => process.exit(0));
  input.on('error', () => process.exit(0));
  send({ type: 'hello', maxrss_kb: maxrssKb() });
}

serve();
