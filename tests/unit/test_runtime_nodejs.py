"""The Node.js runtime: nodejs* handlers in warm Node.js worker processes (fcemu.runtime.nodejs).

Handlers are written per test into a temporary code directory. Every test but the
"no node" ones needs ``node`` (Node.js 18 or later: Debian 12's) on PATH; CI installs it (.ci/run).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from fcemu.models import Function
from fcemu.runtime import INITIALIZATION_ERROR, UNHANDLED, Outcome, Runtimes
from fcemu.runtime.nodejs import node_path, probe, runtime_major
from tests.unit.test_runtime_worker import CRASH, alive, call, error, function, run

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed: apt-get install "
                                "nodejs (CI's .ci/run does)")
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\S+) \[(\w+)\] (.*)$")


def code(tmp_path: Path, files: dict[str, str], name: str = "code") -> Path:
    root = tmp_path / name
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def node_function(tmp_path: Path, files: dict[str, str], handler: str = "index.handler", *,
                  runtime: str = "nodejs18", **fields: object) -> Function:
    return function("nodefn", handler, code_dir=code(tmp_path, files), runtime=runtime,
                    **fields)


def invoke_all(fn: Function, *payloads: bytes, **settings: object) -> list[Outcome]:
    async def body(runtimes: Runtimes) -> list[Outcome]:
        return [await runtimes.invoke(call(fn, p, request_id=f"r-{i}"))
                for i, p in enumerate(payloads)]

    return run(body, **settings)  # type: ignore[no-any-return]


# -- handler forms -------------------------------------------------------------------------


@needs_node
def test_a_callback_handler_gets_a_buffer_and_stays_warm(tmp_path):
    fn = node_function(tmp_path, {"index.js": """
let calls = 0;
exports.handler = (event, context, callback) => {
  calls += 1;
  const buffer = Buffer.isBuffer(event);
  callback(null, {calls, buffer, event: event.toString(), pid: process.pid});
};
"""})
    first, second = invoke_all(fn, b"one", b"two")
    assert first.kind == second.kind == "ok"
    one, two = json.loads(first.body), json.loads(second.body)
    assert (one["calls"], one["buffer"], one["event"]) == (1, True, "one")
    assert (two["calls"], two["event"]) == (2, "two")
    assert one["pid"] == two["pid"] and first.instance_id == second.instance_id
    assert first.max_memory_mb > 0


@needs_node
@pytest.mark.parametrize(("returned", "body"), [
    ("'text'", b"text"),
    ("Buffer.from([0, 255])", b"\x00\xff"),
    ("({a: [1, true, null]})", b'{"a":[1,true,null]}'),
    ("42", b"42"),
    ("undefined", b""),
    ("null", b""),
])
def test_an_async_handler_result_is_serialised(tmp_path, returned, body):
    fn = node_function(tmp_path, {"index.js": f"""
exports.handler = async (event, context) => {{
  await new Promise((resolve) => setImmediate(resolve));
  return {returned};
}};
"""})
    [outcome] = invoke_all(fn, b"")
    assert (outcome.kind, outcome.body) == ("ok", body)


@needs_node
@pytest.mark.parametrize("files", [
    {"index.mjs": "export const handler = async (event) => `esm ${event}`;\n"},
    {"package.json": '{"type": "module"}',
     "index.js": "export async function handler(event) { return `esm ${event}`; }\n"},
], ids=["mjs", "type-module"])
def test_es_modules_run_from_nodejs18(tmp_path, files):
    [outcome] = invoke_all(node_function(tmp_path, files, runtime="nodejs18"), b"x")
    assert (outcome.kind, outcome.body) == ("ok", b"esm x")


@needs_node
def test_an_es_module_on_nodejs16_names_the_runtime_it_needs(tmp_path):
    fn = node_function(tmp_path, {"index.mjs": "export const handler = async () => 'x';\n"},
                       runtime="nodejs16")
    [outcome] = invoke_all(fn, b"")
    assert (outcome.kind, outcome.error_type) == ("error", UNHANDLED)
    assert error(outcome)["errorType"] == "ImportModuleError"
    assert "nodejs18" in error(outcome)["errorMessage"]


@needs_node
def test_a_handler_in_a_subfolder_and_a_missing_one(tmp_path):
    files = {"src/app.js": "exports.main = async () => 'deep';\n"}
    [deep] = invoke_all(node_function(tmp_path, files, "src/app.main"), b"")
    assert deep.body == b"deep"
    [missing] = invoke_all(node_function(tmp_path / "b", files, "src/app.nope"), b"")
    assert error(missing)["errorType"] == "HandlerNotFound"
    assert "nope" in error(missing)["errorMessage"]
    [nofile] = invoke_all(node_function(tmp_path / "c", files, "index.handler"), b"")
    assert error(nofile)["errorType"] == "HandlerNotFound"


# -- errors ------------------------------------------------------------------------------------


@needs_node
@pytest.mark.parametrize(("source", "message", "kind"), [
    ("exports.handler = (e, c, cb) => { throw new TypeError('thrown'); };", "thrown",
     "TypeError"),
    ("exports.handler = async () => { throw new RangeError('rejected'); };", "rejected",
     "RangeError"),
    ("exports.handler = (e, c, cb) => cb(new Error('called back'));", "called back", "Error"),
])
def test_errors_have_fcs_nodejs_shape(tmp_path, source, message, kind):
    fn = node_function(tmp_path, {"index.js": source + "\n"})
    [outcome] = invoke_all(fn, b"")
    assert (outcome.kind, outcome.error_type) == ("error", UNHANDLED)
    doc = error(outcome)
    assert (doc["errorMessage"], doc["errorType"]) == (message, kind)
    assert doc["stackTrace"][0] == f"{kind}: {message}"
    assert re.search(r"index\.js:\d+:\d+\)$", doc["stackTrace"][1])  # the user's file
    assert not any("worker.js" in line for line in doc["stackTrace"])
    assert f"{kind}: {message}" in outcome.logs  # the error is in the function's log too


@needs_node
def test_an_error_thrown_through_console_log_shows_none_of_the_workers_frames(tmp_path):
    fn = node_function(tmp_path, {"index.js": """
const util = require('util');
exports.handler = (e, c, cb) => {
  console.log({ [util.inspect.custom]() { throw new Error('inspected'); } });
};
"""})
    [outcome] = invoke_all(fn, b"")
    doc = error(outcome)
    assert (doc["errorMessage"], doc["errorType"]) == ("inspected", "Error")
    assert any("node:internal/util/inspect" in line for line in doc["stackTrace"])
    assert re.search(r"at exports\.handler \(\S*/index\.js:4:11\)$", doc["stackTrace"][-1])
    assert not any("fcemu/runtime/node/" in line for line in doc["stackTrace"])
    logged = outcome.logs[outcome.logs.index("Error: inspected"):]
    assert "/index.js:4:11)" in logged and "fcemu/runtime/node/" not in logged


@needs_node
def test_an_es_module_error_points_at_the_module_file(tmp_path):
    fn = node_function(tmp_path, {"index.mjs": "export const handler = async () => {\n"
                                               "  throw new Error('oops');\n};\n"})
    [outcome] = invoke_all(fn, b"")
    doc = error(outcome)
    assert (doc["errorMessage"], doc["errorType"]) == ("oops", "Error")
    assert re.search(r"at handler \(file://\S*/index\.mjs:2:9\)$", doc["stackTrace"][1])


@needs_node
def test_a_thrown_string_is_an_error_too(tmp_path):
    source = "exports.handler = async () => { throw 'plain'; };\n"
    fn = node_function(tmp_path, {"index.js": source})
    [outcome] = invoke_all(fn, b"")
    assert error(outcome) == {"errorMessage": "plain", "errorType": "string"}


@needs_node
@pytest.mark.parametrize("source", [
    "exports.handler = () => { process.exit(3); };",
    "exports.handler = () => { setTimeout(() => { throw new Error('later'); }, 1); };",
    "exports.handler = () => { process.kill(process.pid, 'SIGKILL'); };",
], ids=["exit", "uncaught", "killed"])
def test_an_exit_or_a_crash_is_process_exited_unexpectedly(tmp_path, source):
    fn = node_function(tmp_path, {"index.js": source + "\n"})
    first, second = invoke_all(fn, b"", b"")
    assert (first.kind, first.error_type) == ("crash", UNHANDLED)
    assert CRASH.fullmatch(error(first)["errorMessage"])
    assert second.instance_id != first.instance_id  # the next request gets a new instance


@needs_node
def test_a_timeout_kills_the_instance(tmp_path):
    fn = node_function(tmp_path, {"index.js": """
exports.handler = async (event) => {
  if (event.toString() === 'quick') return process.pid;
  console.log('pid', process.pid);
  await new Promise(() => {});
};
"""}, timeout=1)

    async def body(runtimes: Runtimes) -> tuple[Outcome, Outcome]:
        slow = await runtimes.invoke(call(fn, b"", request_id="slow"))
        quick = await runtimes.invoke(call(fn, b"quick", request_id="quick"))
        return slow, quick

    slow, quick = run(body)
    assert (slow.kind, slow.error_type) == ("timeout", UNHANDLED)
    assert error(slow)["errorMessage"].startswith("Function timed out after 1 seconds")
    pid = int(re.search(r"\[info\] pid (\d+)", slow.logs).group(1))  # type: ignore[union-attr]
    assert quick.kind == "ok" and quick.instance_id != slow.instance_id
    assert not alive(pid) or int(quick.body) == pid  # pid namespaces may reuse the number


# -- lifecycle -----------------------------------------------------------------------------------


@needs_node
@pytest.mark.parametrize("initializer", [
    "exports.initialize = (context, callback) => { state.push(context.requestId); "
    "console.log('init'); callback(null, ''); };",
    "exports.initialize = async (context) => { state.push(context.requestId); "
    "console.log('init'); };",
], ids=["callback", "async"])
def test_the_initializer_runs_once_per_instance(tmp_path, initializer):
    fn = node_function(tmp_path, {"index.js": f"""
const state = [];
{initializer}
exports.handler = async () => state;
"""}, instance_lifecycle_config={"initializer": {"handler": "index.initialize", "timeout": 3}})
    first, second = invoke_all(fn, b"", b"")
    assert json.loads(first.body) == json.loads(second.body) == ["r-0"]
    assert first.logs.startswith("FC Initialize Start RequestId: r-0\n")
    assert "[info] init" in first.logs and "init" not in second.logs


@needs_node
def test_a_failing_or_slow_initializer_fails_the_request(tmp_path):
    lifecycle = {"initializer": {"handler": "index.initialize", "timeout": 1}}
    failing = node_function(tmp_path, {"index.js": """
exports.initialize = (context, callback) => callback(new Error('no database'));
exports.handler = async () => 'never';
"""}, instance_lifecycle_config=lifecycle)
    slow = node_function(tmp_path / "slow", {"index.js": """
exports.initialize = async () => { await new Promise(() => {}); };
exports.handler = async () => 'never';
"""}, instance_lifecycle_config=lifecycle)
    [failed] = invoke_all(failing, b"")
    assert (failed.kind, failed.error_type) == ("error", INITIALIZATION_ERROR)
    assert error(failed)["errorMessage"] == "no database"
    [timed_out] = invoke_all(slow, b"")
    assert (timed_out.kind, timed_out.error_type) == ("timeout", INITIALIZATION_ERROR)


@needs_node
def test_the_pre_stop_hook_runs_when_an_idle_instance_is_retired(tmp_path, tmp_path_factory,
                                                                monkeypatch):
    shared = tmp_path_factory.mktemp("shared")  # not below the code's folder
    monkeypatch.setenv("FCEMU_SANDBOX_SHARE", str(shared))  # the marker file, in a sandbox
    marker = shared / "stopped.txt"
    fn = node_function(tmp_path, {"index.js": f"""
const fs = require('fs');
let served = 0;
exports.preStop = async (context) => {{
  fs.writeFileSync({json.dumps(str(marker))}, `served ${{served}} ${{context.requestId}}`);
}};
exports.handler = async () => {{ served += 1; return served; }};
"""}, instance_lifecycle_config={"preStop": {"handler": "index.preStop", "timeout": 3}})

    async def body(runtimes: Runtimes) -> tuple[Outcome, bool]:
        outcome = await runtimes.invoke(call(fn, b"", request_id="r-0"))
        [instance] = runtimes.pool.instances()
        await runtimes.close()  # shutdown retires the idle instance: PreStop, then the kill
        return outcome, getattr(instance, "pre_stopped", None)

    outcome, pre_stopped = run(body)
    assert outcome.body == b"1" and pre_stopped is True
    assert marker.read_text() == f"served 1 {outcome.instance_id}-prestop"


@needs_node
def test_no_pre_stop_after_a_timeout(tmp_path, tmp_path_factory, monkeypatch):
    shared = tmp_path_factory.mktemp("shared")
    monkeypatch.setenv("FCEMU_SANDBOX_SHARE", str(shared))
    marker = shared / "stopped.txt"
    fn = node_function(tmp_path, {"index.js": f"""
exports.preStop = (context, callback) => {{
  require('fs').writeFileSync({json.dumps(str(marker))}, 'ran');
  callback(null, '');
}};
exports.handler = async () => new Promise(() => {{}});
"""}, timeout=1, instance_lifecycle_config={"preStop": {"handler": "index.preStop"}})
    [outcome] = invoke_all(fn, b"")
    assert outcome.kind == "timeout" and not marker.exists()


# -- context, logs, environment ---------------------------------------------------------------


@needs_node
def test_the_context_follows_fcs_nodejs_docs(tmp_path):
    fn = node_function(tmp_path, {"index.js": """
exports.handler = (event, context, callback) => {
  const {logger, ...rest} = context;
  callback(null, {...rest, logger: Object.keys(logger).sort()});
};
"""}, memory_size=256, timeout=7, extra={"logConfig": {"project": "p", "logstore": "s"}})
    [outcome] = invoke_all(fn, b"")
    ctx = json.loads(outcome.body)
    assert ctx["requestId"] == "r-0"
    assert set(ctx["credentials"]) == {"accessKeyId", "accessKeySecret", "securityToken"}
    assert ctx["function"] == {"name": "nodefn", "handler": "index.handler", "memory": 256,
                               "timeout": 7}
    assert ctx["service"] == {"name": "", "logProject": "p", "logStore": "s",
                              "qualifier": "LATEST", "versionId": ""}
    assert (ctx["region"], ctx["accountId"]) == (fn.arn.split(":")[2], fn.arn.split(":")[3])
    assert ctx["logger"] == ["debug", "error", "info", "log", "warn"]


@needs_node
def test_console_and_logger_lines_carry_the_request_id(tmp_path):
    fn = node_function(tmp_path, {"index.js": """
exports.handler = async (event, context) => {
  process.stdout.write('raw line\\n');
  console.log('hello', {a: 1});
  console.error('bad');
  context.logger.warn('careful');
  return 'ok';
};
"""})
    [outcome] = invoke_all(fn, b"")
    lines = outcome.logs.splitlines()
    assert lines[0] == "FC Invoke Start RequestId: r-0"
    assert lines[1] == "raw line"
    parsed = [LOG_LINE.match(line).groups() for line in lines[2:5]]  # type: ignore[union-attr]
    assert parsed == [("r-0", "info", "hello { a: 1 }"), ("r-0", "error", "bad"),
                      ("r-0", "warn", "careful")]
    assert lines[5:] == ["FC Invoke End RequestId: r-0"]


@needs_node
def test_the_environment_is_fcs_and_node_path_reaches_the_layers(tmp_path, monkeypatch):
    monkeypatch.setenv("FCEMU_SECRET_OF_THE_SERVER", "leak")
    opt = code(tmp_path, {"nodejs/node_modules/shared/index.js": "module.exports = 'layer';\n"},
               "opt")
    fn = node_function(tmp_path, {
        "node_modules/own/index.js": "module.exports = 'own';\n",
        "index.js": """
exports.handler = async () => ({
  own: require('own'), shared: require('shared'), env: process.env,
});
"""}, environment_variables={"MINE": "1"}, opt_dir=opt)
    [outcome] = invoke_all(fn, b"")
    doc = json.loads(outcome.body)
    assert (doc["own"], doc["shared"]) == ("own", "layer")
    env = doc["env"]
    assert "FCEMU_SECRET_OF_THE_SERVER" not in env
    assert not [name for name in env if name.startswith("FCEMU_")]
    assert env["MINE"] == "1" and env["FC_FUNCTION_NAME"] == "nodefn"
    code_path = env["FC_FUNC_CODE_PATH"]  # /code in a bwrap sandbox, else the real directory
    assert env["NODE_PATH"].split(":")[0] == f"{code_path}/node_modules"
    assert env["NODE_PATH"].endswith("/nodejs/node_modules")
    assert node_path(fn).split(":") == [f"{fn.code_dir}/node_modules",
                                        f"{opt}/nodejs/node_modules"]
    assert env["FC_RUNTIME"] == "nodejs18"


@needs_node
def test_concurrent_requests_share_one_event_loop_with_separate_logs(tmp_path):
    fn = node_function(tmp_path, {"index.js": """
let release;
const gate = new Promise((resolve) => { release = resolve; });
exports.handler = async (event, context) => {
  console.log('start', event.toString());
  if (event.toString() === 'first') await gate; else release();
  await new Promise((resolve) => setTimeout(resolve, 5));
  console.log('end', event.toString());
  return process.pid;
};
"""}, instance_concurrency=2, timeout=10)

    async def body(runtimes: Runtimes) -> list[Outcome]:
        return list(await asyncio.gather(
            runtimes.invoke(call(fn, b"first", request_id="a")),
            runtimes.invoke(call(fn, b"second", request_id="b"))))

    first, second = run(body)
    assert first.kind == second.kind == "ok" and first.body == second.body
    assert first.instance_id == second.instance_id
    for outcome, rid, word in ((first, "a", "first"), (second, "b", "second")):
        assert outcome.logs.startswith(f"FC Invoke Start RequestId: {rid}\n")
        assert outcome.logs.endswith(f"FC Invoke End RequestId: {rid}\n")
        assert f"{rid} [info] start {word}" in outcome.logs
        assert f"{rid} [info] end {word}" in outcome.logs
        other = "second" if word == "first" else "first"
        assert other not in outcome.logs


@needs_node
def test_idle_reaping_and_the_instance_cap_hold_for_nodejs(tmp_path):
    timers: list[tuple[float, object]] = []

    class Timer:
        def cancel(self) -> None:
            pass

    def idle_timer(seconds: float, callback: object) -> Timer:
        timers.append((seconds, callback))
        return Timer()

    source = "exports.handler = async () => process.pid;\n"
    first = node_function(tmp_path / "a", {"index.js": source}, name="first")
    second = node_function(tmp_path / "b", {"index.js": source}, name="second")

    async def body(runtimes: Runtimes) -> tuple[list[Outcome], list[int]]:
        one = await runtimes.invoke(call(first, b"", request_id="r-1"))
        [pid] = [i["pid"] for i in runtimes.instances()]  # as the server numbers it
        seconds, expire = timers[-1]
        assert seconds == 7.0
        expire()  # the idle timer fires: the instance is reaped
        await runtimes.pool.reaped()
        assert not alive(pid) and not runtimes.instances()
        two = await runtimes.invoke(call(first, b"", request_id="r-2"))
        # the cap is 1: another function's request takes the idle instance's place
        three = await runtimes.invoke(call(second, b"", request_id="r-3"))
        return [one, two, three], [runtimes.usage().peak]

    outcomes, [peak] = run(body, max_instances=1, idle_seconds=7.0, idle_timer=idle_timer)
    assert [o.kind for o in outcomes] == ["ok", "ok", "ok"]
    assert len({o.instance_id for o in outcomes}) == 3 and peak == 1


@needs_node
def test_a_nodejs_instance_over_its_memory_size_is_killed(tmp_path):
    fn = node_function(tmp_path, {"index.js": """
exports.handler = async () => {
  const blocks = [];
  for (let i = 0; i < 40; i += 1) blocks.push(Buffer.alloc(8 * 1024 * 1024, 1));
  await new Promise((resolve) => setTimeout(resolve, 200));
  return blocks.length;
};
"""}, memory_size=128, timeout=10)
    [outcome] = invoke_all(fn, b"")
    assert (outcome.kind, outcome.error_type) == ("crash", UNHANDLED)
    assert CRASH.fullmatch(error(outcome)["errorMessage"])
    assert "fcemu: out of memory" in outcome.logs


@needs_node
def test_aliyun_fc_log_level_filters_console_lines(tmp_path):
    fn = node_function(tmp_path, {"index.js": """
exports.handler = async (event, context) => {
  console.log('hidden info');
  context.logger.warn('shown warning');
  process.stdout.write('raw always\\n');
  return 'ok';
};
"""}, environment_variables={"ALIYUN_FC_LOG_LEVEL": "warn"})
    [outcome] = invoke_all(fn, b"")
    assert "hidden info" not in outcome.logs
    assert "[warn] shown warning" in outcome.logs and "raw always" in outcome.logs


# -- the interpreter ----------------------------------------------------------------------------


def test_without_node_invocations_say_what_to_install(tmp_path):
    fn = node_function(tmp_path, {"index.js": "exports.handler = async () => 1;\n"},
                       runtime="nodejs20")
    [outcome] = invoke_all(fn, b"", node=str(tmp_path / "no-such-node"))
    assert (outcome.kind, outcome.error_type) == ("error", UNHANDLED)
    doc = error(outcome)
    assert doc["errorType"] == "NodeNotAvailable"
    for needle in ("Node.js 20 or later", "apt-get install nodejs", "--node PATH",
                   "FCEMU_NODE"):
        assert needle in doc["errorMessage"]


def test_a_node_older_than_the_runtime_is_refused(tmp_path):
    old = tmp_path / "old-node"
    old.write_text("#!/bin/sh\necho v16.20.2\n")
    old.chmod(0o755)
    fn = node_function(tmp_path, {"index.js": "exports.handler = async () => 1;\n"})
    [outcome] = invoke_all(fn, b"", node=str(old))
    assert error(outcome)["errorType"] == "NodeNotAvailable"
    assert f"{old} is Node.js 16.20.2" in error(outcome)["errorMessage"]
    assert probe(str(old)).version == (16, 20, 2)


def test_fcemu_node_chooses_the_interpreter(tmp_path, monkeypatch):
    monkeypatch.setenv("FCEMU_NODE", str(tmp_path / "from-env"))
    fn = node_function(tmp_path, {"index.js": "exports.handler = async () => 1;\n"})
    [outcome] = invoke_all(fn, b"")
    assert f"no Node.js interpreter '{tmp_path / 'from-env'}' was found" in error(outcome)[
        "errorMessage"]


def test_runtime_major():
    assert [runtime_major(r) for r in ("nodejs12", "nodejs20", "python3.10", "nodejs")] == [
        12, 20, None, None]


def test_the_worker_script_ships_with_the_package():
    from fcemu.runtime.nodejs import WORKER_JS

    assert os.path.isfile(WORKER_JS)


def test_fcemu_yaml_settings_name_the_interpreter(tmp_path):
    from fcemu.config import load_settings
    from fcemu.settings import Settings

    for value, expected in (("./bin/node", str(tmp_path / "bin" / "node")), ("node20", "node20")):
        (tmp_path / "fcemu.yaml").write_text(f"version: 1\nsettings:\n  node: {value}\n")
        assert load_settings([tmp_path / "fcemu.yaml"], Settings()).node == expected
