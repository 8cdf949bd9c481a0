"""The bwrap sandbox (fcemu.runtime.sandbox) and its fallback, through the runtimes.

In the sandbox: the code at ``/code`` (read-only, the working directory), the layers at
``/opt``, a private ``/tmp``, a fresh environment with FC's paths, other functions' code
out of sight, custom runtimes on their configured port in a network of their own (two
instances at once), Python workers on the host's network, nothing left after a kill.
Without it (forced with ``containment=``, as ``FCEMU_CONTAINMENT`` does): ``/code`` and
``/opt`` mapped in environment variables, and a server on the wrong port failing at once
with what to change. Tests that need bubblewrap skip without it (.ci/run installs it).
"""

from __future__ import annotations

import itertools
import json
import socket
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from fcemu.runtime.contain import containment
from fcemu.runtime.sandbox import SHARE_ENV, Sandbox, fc_path_defaults, map_fc_paths
from tests.cli.conftest import serving
from tests.hardening.processes import processes_with, wait_gone
from tests.unit.test_runtime_worker import call, function, run

needs_bwrap = pytest.mark.skipif(
    containment("bwrap").mode != "bwrap",
    reason="needs a working bubblewrap: apt-get install bubblewrap (.ci/run does)")

#: A handler that reports what it sees: ``event`` names host paths to look for.
PROBE = '''\
import errno, json, os, socket

def handler(event, context):
    asked = json.loads(event or b"{}")
    code = os.environ["FC_FUNC_CODE_PATH"]  # /code in the sandbox
    try:
        open(code + "/written", "w").close()
        code_writable = True
    except OSError as exc:
        code_writable = errno.errorcode[exc.errno]
    with open("/tmp/mine-" + context.function.name, "w") as mine:
        mine.write("x")
    reply = {"cwd": os.getcwd(), "code": sorted(os.listdir(code)),
             "tmp": sorted(os.listdir("/tmp")), "opt": sorted(os.listdir("/opt")),
             "code_writable": code_writable, "pid": os.getpid(), "env": dict(os.environ),
             "exists": {p: os.path.exists(p) for p in asked.get("paths", [])}}
    if "layerlib" in asked:
        import layerlib
        reply["layerlib"] = layerlib.__file__
    if "connect" in asked:
        with socket.create_connection(("127.0.0.1", asked["connect"]), timeout=10) as conn:
            reply["received"] = conn.recv(16).decode()
    return json.dumps(reply)
'''

#: A custom runtime (standard library only) that listens on a port written in its code.
PORT_SERVER = '''\
import http.server, json, os, subprocess, sys

PORT = int(os.environ.get("HARD_CODED_PORT", "9000"))
MARKER = os.environ.get("CHILD_MARKER")
if MARKER:  # something left running in a session of its own, to be killed with the instance
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", MARKER],
                     start_new_session=True)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps({"port": self.server.server_address[1],
                           "serverPort": os.environ["FC_SERVER_PORT"],
                           "instance": os.environ["FC_INSTANCE_ID"],
                           "pid": os.getpid()}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
'''


def probe_code(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "index.py").write_text(PROBE)
    return directory


def layer(directory: Path) -> Path:
    package = directory / "python" / "layerlib"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("NAME = 'layerlib'\n")
    return directory


def custom(code: Path, name: str, **variables: str):
    code.mkdir(parents=True, exist_ok=True)
    (code / "server.py").write_text(PORT_SERVER)
    return function(name, code_dir=code, name=name, runtime="custom.debian10",
                    environment_variables=variables,
                    custom_runtime_config={"command": ["python3", "server.py"], "port": 9000})


def seen(outcome) -> dict:
    assert outcome.kind == "ok", outcome
    return json.loads(outcome.body)


# -- in the sandbox ---------------------------------------------------------------------------


@needs_bwrap
def test_code_at_code_read_only_layers_at_opt_private_tmp_fresh_environment(
        tmp_path, monkeypatch):
    monkeypatch.setenv("SERVER_ONLY_SECRET", "s3cret")
    host_file = tempfile.NamedTemporaryFile(prefix="fcemu-host-")  # in the host's /tmp
    fn = function("probe", code_dir=probe_code(tmp_path / "probe"), name="probe",
                  opt_dir=layer(tmp_path / "layers"))
    other = function("probe", code_dir=probe_code(tmp_path / "other"), name="other")
    ask = {"paths": [host_file.name]}

    async def body(rt):
        return (await rt.invoke(call(fn, json.dumps({**ask, "layerlib": True}).encode())),
                await rt.invoke(call(other, json.dumps(ask).encode(), "r-2")))

    with host_file:
        first, second = (seen(o) for o in run(body, containment="bwrap"))
    assert (first["cwd"], first["code"], first["code_writable"]) == ("/code", ["index.py"],
                                                                     "EROFS")
    assert first["opt"] == ["python"] and second["opt"] == []
    assert first["layerlib"] == "/opt/python/layerlib/__init__.py"  # FC's PYTHONPATH
    assert first["exists"] == {host_file.name: False}
    mine = [[name for name in answer["tmp"] if name.startswith("mine-")]
            for answer in (first, second)]
    assert mine == [["mine-probe"], ["mine-other"]]  # each instance's /tmp is its own
    assert first["pid"] == 2  # the launcher is PID 1 of the sandbox's PID namespace
    env = first["env"]
    assert (env["FC_FUNC_CODE_PATH"], env["PYTHONPATH"], env["LD_LIBRARY_PATH"]) == (
        "/code", "/opt/python:/code", "/code:/code/lib:/usr/local/lib:/opt/lib")
    assert env["PATH"].endswith(":/opt/bin:/code:/code/bin")
    assert "SERVER_ONLY_SECRET" not in env and "TMPDIR" not in env and SHARE_ENV not in env


@needs_bwrap
def test_other_functions_code_is_not_there(tmp_path, monkeypatch):
    monkeypatch.delenv(SHARE_ENV, raising=False)  # the test's directory is not shared here
    mine, theirs = probe_code(tmp_path / "mine"), probe_code(tmp_path / "theirs")
    ask = json.dumps({"paths": [str(theirs), str(theirs / "index.py"), str(mine)]}).encode()
    answer = seen(run(lambda rt: rt.invoke(call(function("probe", code_dir=mine), ask)),
                      containment="bwrap"))
    assert answer["exists"] == {str(theirs): False, str(theirs / "index.py"): False,
                                str(mine): False}
    assert answer["code"] == ["index.py"]


def test_a_code_store_outside_tmp_is_covered_and_the_code_bound_at_code():
    options = Sandbox(Path("/srv/fcemu-store/fn-1"), Path("/srv/layer-store/fn-1")).options()
    pairs = list(itertools.pairwise(options))
    assert ("--tmpfs", "/srv/fcemu-store") in pairs and ("--tmpfs", "/srv/layer-store") in pairs
    assert options.index("--tmpfs") < options.index("/code")  # covered, then bound
    assert ("/srv/fcemu-store/fn-1", "/code") in pairs and ("/srv/layer-store/fn-1",
                                                            "/opt") in pairs
    assert "--unshare-net" not in options  # a Python worker keeps the host's network
    assert {"--unshare-pid", "--as-pid-1"} <= set(options)
    # the launcher follows the server through its lifeline instead: bwrap killed with its
    # parent halfway through its set-up would leave the namespace's PID 1 waiting forever
    assert "--die-with-parent" not in options


@needs_bwrap
def test_port_9000_as_written_for_two_instances_at_once(tmp_path):
    fn = custom(tmp_path / "web", "web")

    async def body(rt):
        import asyncio

        return await asyncio.gather(*(rt.invoke(call(fn, b"{}", f"r-{i}")) for i in range(2)))

    answers = [seen(o) for o in run(body, containment="bwrap")]
    assert [(a["port"], a["serverPort"]) for a in answers] == [(9000, "9000")] * 2
    assert answers[0]["instance"] != answers[1]["instance"]  # each in a network of its own


@needs_bwrap
def test_python_workers_keep_the_hosts_network(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as server:
        def answer_once() -> None:
            conn, _ = server.accept()
            with conn:
                conn.sendall(b"hello")

        thread = threading.Thread(target=answer_once, daemon=True)
        thread.start()
        ask = json.dumps({"connect": server.getsockname()[1]}).encode()
        fn = function("probe", code_dir=probe_code(tmp_path / "net"), name="net")
        answer = seen(run(lambda rt: rt.invoke(call(fn, ask)), containment="bwrap"))
        thread.join(10)
    assert answer["received"] == "hello"


@needs_bwrap
def test_nothing_a_sandboxed_server_started_outlives_its_instance(tmp_path):
    marker = str(tmp_path / "sandboxed-child")
    fn = custom(tmp_path / "leaky", "leaky", CHILD_MARKER=marker)

    async def body(rt):
        outcome = await rt.invoke(call(fn))
        return outcome, processes_with(marker)

    outcome, children = run(body, containment="bwrap")  # run() closes the runtimes: a kill
    assert outcome.kind == "ok" and len(children) == 1
    assert wait_gone(children) == [] and processes_with(marker) == []


# -- the fallback -------------------------------------------------------------------------------


def test_fallback_maps_code_and_opt_in_environment_variables(tmp_path):
    code = probe_code(tmp_path / "code")
    (code / "python" / "vendored").mkdir(parents=True)
    (code / "python" / "vendored" / "__init__.py").write_text("")
    opt = layer(tmp_path / "layers")
    fn = function("probe", code_dir=code, opt_dir=opt, environment_variables={
        "PYTHONPATH": "/code/python:/opt/python", "DATA": "/code/data.txt", "PLAIN": "/codex"})
    answer = run(lambda rt: rt.invoke(call(fn, b'{"layerlib": true}')),
                 containment="subreaper")
    env = seen(answer)["env"]
    assert env["PYTHONPATH"] == f"{code}/python:{opt}/python"
    assert (env["DATA"], env["PLAIN"], env["FC_FUNC_CODE_PATH"]) == (
        f"{code}/data.txt", "/codex", str(code))
    assert env["LD_LIBRARY_PATH"] == f"{code}:{code}/lib:/usr/local/lib:{opt}/lib"
    assert seen(answer)["layerlib"] == f"{opt}/python/layerlib/__init__.py"


def test_fallback_a_server_on_another_port_fails_at_once_saying_what_to_change(tmp_path):
    with socket.socket() as probe:  # a port nothing else uses, written into the "code"
        probe.bind(("127.0.0.1", 0))
        hard_coded = probe.getsockname()[1]
    fn = custom(tmp_path / "stubborn", "stubborn", HARD_CODED_PORT=str(hard_coded))
    outcome = run(lambda rt: rt.invoke(call(fn)), containment="subreaper")
    message = json.loads(outcome.body)["errorMessage"]
    assert (outcome.kind, json.loads(outcome.body)["errorType"]) == ("error",
                                                                     "FunctionNotStarted")
    assert f"the custom runtime listens on port {hard_coded}, not on the port fcemu gave" \
           in message
    assert "Listen on $FC_SERVER_PORT" in message and "install bubblewrap (bwrap)" in message


def test_fc_default_paths_and_their_mapping():
    assert fc_path_defaults("python3.10", "/usr/bin") == {
        "PATH": "/usr/bin:/opt/bin:/code:/code/bin",
        "LD_LIBRARY_PATH": "/code:/code/lib:/usr/local/lib:/opt/lib",
        "PYTHONPATH": "/opt/python:/code"}
    assert "PYTHONPATH" not in fc_path_defaults("custom.debian10", "/usr/bin")
    assert map_fc_paths("/code:/code/a:/opt/b:/optional:/x/code", Path("/c"), Path("/o")) == \
        "/c:/c/a:/o/b:/optional:/x/code"
    assert map_fc_paths("/opt/b", Path("/c"), None) == "/opt/b"  # no layers: left alone


def test_the_fallback_says_what_differs():
    for mode in ("pidns", "subreaper", "group"):
        said = containment(mode).describe()
        assert "without bubblewrap (bwrap)" in said and "$FC_SERVER_PORT" in said, mode


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bwrap is Linux only")
def test_forcing_bwrap_where_it_fails_falls_back_with_a_warning(monkeypatch, caplog):
    from fcemu.runtime import contain

    real_which = contain.shutil.which
    monkeypatch.setattr(contain.shutil, "which",  # no bwrap program on this PATH
                        lambda name, *a, **k: None if name == "bwrap" else real_which(name))
    monkeypatch.setattr(contain, "_chosen", {})
    with caplog.at_level("WARNING", logger="fcemu.runtime"):
        chosen = contain.containment("bwrap")
    assert chosen.mode != "bwrap"
    assert any("install bubblewrap" in r.getMessage() for r in caplog.records)


@needs_bwrap
def test_in_the_sandbox_a_server_on_another_port_than_configured_fails_at_once(tmp_path):
    fn = custom(tmp_path / "elsewhere", "elsewhere", HARD_CODED_PORT="8080")
    outcome = run(lambda rt: rt.invoke(call(fn)), containment="bwrap")
    message = json.loads(outcome.body)["errorMessage"]
    assert "the custom runtime listens on port 8080, not on its configured port 9000" in message
    assert "set customRuntimeConfig.port to the port it listens on" in message


@pytest.mark.parametrize(("mode", "end"), [("bwrap", "ends with its instance\n"),
                                         ("subreaper", "must listen on $FC_SERVER_PORT\n")])
def test_fcemu_serve_says_at_start_up_which_containment_is_in_force(tmp_path, monkeypatch,
                                                                     mode, end):
    if mode == "bwrap" and containment("bwrap").mode != "bwrap":
        pytest.skip("needs a working bubblewrap: apt-get install bubblewrap (.ci/run does)")
    monkeypatch.setenv("FCEMU_CONTAINMENT", mode)
    with serving(log=tmp_path / "serve.log", stderr_pipe=True) as server:
        said = server.wait_for(end)  # no function was invoked: said at start-up
    [line] = [x for x in said.splitlines() if "fcemu containment: " in x]
    if mode == "bwrap":
        assert line.startswith("INFO fcemu.runtime: ") and "bubblewrap sandboxes" in line
    else:  # the fallback is a warning that says what differs from FC
        assert line.startswith("WARNING fcemu.runtime: ")
        assert "without bubblewrap (bwrap), /code and /opt are rewritten" in line
