"""Issue 9, point 4: handlers see only what FC gives them.

A worker and a custom-runtime handler both report their whole environment.
The server's own variables (``FCEMU_ACCESS_KEY``, a shell secret,
``PYTHONPATH``) never reach them; FC's documented variables and the
function's ``environmentVariables`` do, with the few an interpreter needs;
``--pass-env`` (``Settings.pass_env``, ``settings.passEnv``) lets a named
variable through. Handlers that run in-process share the server's
environment (documented: they cannot be isolated).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from fcemu import config
from fcemu.cli import build_parser, settings_from
from fcemu.config import ConfigError
from fcemu.ids import IdGenerator
from fcemu.runtime import Runtimes
from fcemu.runtime.contain import containment
from fcemu.runtime.environ import BASE_VARIABLES
from fcemu.settings import Settings
from tests.constants import ACCOUNT
from tests.constants import RUNTIME_REGION as REGION
from tests.unit.test_runtime_worker import call, function, seen_code

#: FC 3.0's documented system variables (help/en/functioncompute/fc/environment-variables)
#: that every instance gets, and the runtime's own two.
DOCUMENTED = {"FC_FUNC_CODE_PATH", "ALIBABA_CLOUD_ACCESS_KEY_ID",
              "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN",
              "FC_ACCOUNT_ID", "FC_FUNCTION_HANDLER", "FC_FUNCTION_MEMORY_SIZE",
              "FC_FUNCTION_NAME", "FC_REGION", "FC_INSTANCE_ID"}
RUNTIME_OWN = {"FC_TIMEOUT", "FC_RUNTIME"}
#: The function version, in the one of these FC's page names for the runtime's Debian
#: release (``0``: LATEST).
VERSION = {"FC_VER_ID", "FC_FUNCTION_VERSION"}
#: FC's default search paths (fcemu.runtime.sandbox.fc_path_defaults; PYTHONPATH: Python).
FC_PATHS = {"PATH", "LD_LIBRARY_PATH"}
CUSTOM_ONLY = {"FC_SERVER_PORT", "FC_CUSTOM_LISTEN_PORT"}
#: What the server's environment holds that no handler may see.
SECRETS = {"FCEMU_ACCESS_KEY": "AKID:server-secret", "FCEMU_ENDPOINT": "http://127.0.0.1:1",
           "MY_SHELL_TOKEN": "ghp_secret", "PYTHONPATH": "/somewhere/else"}

PY_HANDLER = "import json, os\n\ndef handler(event, context):\n" \
             "    return json.dumps(dict(os.environ))\n"
#: A custom runtime (a stdlib HTTP server) that answers every invocation with its environment.
CUSTOM_SERVER = """\
import http.server, json, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.dumps(dict(os.environ)).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(("127.0.0.1", int(os.environ["FC_SERVER_PORT"])), Handler).serve_forever()
"""


@pytest.fixture
def server_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def seen_environment(tmp_path: Path, kind: str, pass_env: tuple[str, ...] = (),
                     **variables: str) -> tuple[dict[str, str], str]:
    """The environment a ``python`` or ``custom`` handler reports, and its instance ID."""
    code = tmp_path / kind
    code.mkdir()
    if kind == "python":
        (code / "index.py").write_text(PY_HANDLER)
        fn = function("env", code_dir=code, name="env", environment_variables=variables)
    else:
        (code / "server.py").write_text(CUSTOM_SERVER)
        fn = function("env", code_dir=code, name="env", environment_variables=variables,
                      runtime="custom.debian10",
                      custom_runtime_config={"command": [sys.executable, "server.py"]})

    async def main() -> tuple[dict[str, str], str]:
        runtimes = Runtimes(IdGenerator(7), pass_env=pass_env)
        try:
            outcome = await runtimes.invoke(call(fn))
        finally:
            await runtimes.close()
        assert outcome.kind == "ok", outcome
        return json.loads(outcome.body), outcome.instance_id

    return asyncio.run(main())


@pytest.mark.parametrize("kind", ["python", "custom"])
def test_a_handler_sees_fc_variables_and_its_own_never_the_servers(
        tmp_path, server_secrets, kind):
    env, instance_id = seen_environment(tmp_path, kind, GREETING="hi")
    allowed = (DOCUMENTED | RUNTIME_OWN | VERSION | set(BASE_VARIABLES) | {"GREETING"}
               | FC_PATHS)
    allowed |= CUSTOM_ONLY if kind == "custom" else {"PYTHONPATH"}
    allowed |= {"PWD"} if containment().sandboxed else set()  # bwrap's --chdir /code sets it
    assert set(env) <= allowed, sorted(set(env) - allowed)
    assert [env[name] for name in sorted(VERSION & set(env))] == ["0"]
    assert not [name for name in env if name.startswith("FCEMU_")]
    assert DOCUMENTED <= set(env)
    assert (env["FC_FUNCTION_NAME"], env["FC_REGION"], env["FC_ACCOUNT_ID"],
            env["FC_INSTANCE_ID"], env["FC_FUNC_CODE_PATH"], env["GREETING"]) == (
        "env", REGION, ACCOUNT, instance_id, str(seen_code(tmp_path / kind)), "hi")
    assert env["PATH"]  # an interpreter and a shell still find their programs
    assert env.get("PYTHONPATH") != SECRETS["PYTHONPATH"]


@pytest.mark.parametrize("kind", ["python", "custom"])
def test_pass_env_lets_named_server_variables_through(tmp_path, server_secrets, kind):
    env, _ = seen_environment(tmp_path, kind, pass_env=("MY_SHELL_TOKEN", "PYTHONPATH",
                                                          "NOT_SET_ANYWHERE"),
                              PYTHONPATH="/code/python")
    assert env["MY_SHELL_TOKEN"] == SECRETS["MY_SHELL_TOKEN"]
    # the function's own variable wins (outside a sandbox, /code is the real directory)
    assert env["PYTHONPATH"] == f"{seen_code(tmp_path / kind)}/python"
    assert "NOT_SET_ANYWHERE" not in env
    assert "FCEMU_ACCESS_KEY" not in env


def test_pass_env_from_the_command_line_and_fcemu_yaml(tmp_path):
    deployment = tmp_path / "fcemu.yaml"
    deployment.write_text("settings:\n  passEnv: [FROM_FILE, BOTH]\n")
    from_file = config.load_settings([deployment], Settings())
    assert from_file.pass_env == ("FROM_FILE", "BOTH")
    args = build_parser().parse_args(["serve", "--pass-env", "ONE", "--pass-env", "TWO",
                                      "--config", str(deployment)])
    assert settings_from(args).pass_env == ("ONE", "TWO")  # options override the file


@pytest.mark.parametrize("bad", ["1ABC", "A-B", "A=B", "", "A B", "ÄRGER"])
def test_a_bad_pass_env_name_is_refused_everywhere(tmp_path, bad, capsys):
    with pytest.raises(ValueError, match="not an environment variable name"):
        Settings(pass_env=(bad,))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--pass-env", bad])
    assert "--pass-env" in capsys.readouterr().err
    deployment = tmp_path / "fcemu.yaml"
    deployment.write_text(f"settings:\n  passEnv: [{json.dumps(bad)}]\n")
    with pytest.raises(ConfigError, match="passEnv"):
        config.load_settings([deployment], Settings())
