'use strict';
/*
 * The logs of fcemu's Node.js worker (worker.js): its marker and error lines, the
 * per-request output of a threaded instance, and FC's log lines for console.* and
 * context.logger.
 *
 * When several requests share the instance (threaded), what a request writes to
 * process.stdout/process.stderr is sent as its own "log" frames, line by line; other
 * writes, and everything of an instance serving one request at a time, go to fd 2, the
 * instance's output. console.log and friends, and the context's logger, write lines
 * carrying the time, the request ID and the level (FC's logging docs), filtered by
 * ALIYUN_FC_LOG_LEVEL from nodejs18 on. Standard library only.
 */

const util = require('util');

// FC's log levels (ALIYUN_FC_LOG_LEVEL filters them from nodejs18 on).
const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * Sets up the instance's logging; returns { logLine, flushLog, logger }.
 *
 * threaded: several requests share the instance; major: the runtime's Node.js major
 * version (0: unknown); levelName: ALIYUN_FC_LOG_LEVEL; current: the AsyncLocalStorage
 * whose store ({ requestId }) names the running request; send(doc): writes one frame;
 * writeAll(fd, buffer): writes a whole buffer.
 */
function setUpLogs({ threaded, major, levelName, current, send, writeAll }) {
  const pending = new Map(); // request ID -> text not yet ending in a newline (threaded)

  function requestLog(requestId, text) {
    const joined = (pending.get(requestId) || '') + text;
    const cut = joined.lastIndexOf('\n') + 1;
    if (cut < joined.length) pending.set(requestId, joined.slice(cut));
    else pending.delete(requestId);
    if (cut) send({ type: 'log', request_id: requestId, data: joined.slice(0, cut) });
  }

  function flushLog(requestId) {
    const rest = pending.get(requestId);
    pending.delete(requestId);
    if (rest) send({ type: 'log', request_id: requestId, data: rest });
  }

  /** One line of the request's log (or of the instance's, outside every request); in a
   * request's log, on a line of its own (after a newline if its output so far has none). */
  function logLine(requestId, text) {
    if (threaded && requestId) {
      const rest = pending.get(requestId);
      pending.delete(requestId);
      send({ type: 'log', request_id: requestId, data: rest ? `${rest}\n${text}\n` : `${text}\n` });
    } else {
      writeAll(2, Buffer.from(text + '\n', 'utf8'));
    }
  }

  if (threaded) {
    // What a request writes to stdout/stderr is its log; other writes are the instance's.
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream);
      stream.write = function write(chunk, encoding, callback) {
        const request = current.getStore();
        if (!request) return original(chunk, encoding, callback);
        const text = Buffer.isBuffer(chunk) ? chunk.toString('utf8')
          : chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : String(chunk);
        requestLog(request.requestId, text);
        const done = typeof encoding === 'function' ? encoding : callback;
        if (typeof done === 'function') process.nextTick(done);
        return true;
      };
    }
  }

  const minLevel = major >= 18 ? (LEVELS[String(levelName || '').toLowerCase()] || 0) : 0;

  function formatted(level, args) {
    const request = current.getStore();
    const requestId = request ? request.requestId : '';
    return `${new Date().toISOString()} ${requestId} [${level}] ${util.format(...args)}\n`;
  }

  function makeLogger(level, rank, stream) {
    return (...args) => {
      if (rank < minLevel) return;
      stream.write(formatted(level, args));
    };
  }

  // console.log and friends carry the time, the request ID and the level (FC's logging docs).
  const consoleLevels = {
    log: major >= 18 ? 'info' : 'silly', info: 'info', debug: 'debug', warn: 'warn',
    error: 'error', trace: 'verbose',
  };
  for (const [method, level] of Object.entries(consoleLevels)) {
    const rank = LEVELS[level] === undefined ? LEVELS.info : LEVELS[level];
    const stream = method === 'error' || method === 'warn' ? process.stderr : process.stdout;
    console[method] = makeLogger(level, rank, stream);
  }

  const logger = {
    debug: makeLogger('debug', LEVELS.debug, process.stdout),
    info: makeLogger('info', LEVELS.info, process.stdout),
    log: makeLogger('info', LEVELS.info, process.stdout),
    warn: makeLogger('warn', LEVELS.warn, process.stdout),
    error: makeLogger('error', LEVELS.error, process.stdout),
  };

  return { logLine, flushLog, logger };
}

module.exports = { setUpLogs };
