"""Deployment files: s.yaml and fcemu.yaml loading, references, errors, apply and watch."""

from __future__ import annotations

import asyncio
import json
import logging
import textwrap
import urllib.request
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

import fcemu
from fcemu import config
from fcemu.code import zip_code
from fcemu.config import SCHEMA, ConfigError, ConfigErrors, load, load_settings, load_yaml
from fcemu.errors import FunctionNotFound, InvalidArgument
from fcemu.settings import Settings
from fcemu.store.lock import DirectoryLock
from tests.constants import ACCOUNT, T0

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "fixtures" / "stateful-async-invocation"

HANDLER = "def handler(event, context):\n    return b'v1:' + event\n"


def project(tmp_path: Path, files: dict[str, str], code: str = HANDLER) -> Path:
    """A project directory: ``code/index.py`` plus the given YAML files."""
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "code" / "index.py").write_text(code)
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip())
    return tmp_path


S_YAML = """
    edition: 3.0.0
    name: app
    vars:
      queue: results
      memory: 256
    resources:
      job:
        component: fc3
        props:
          region: cn-shanghai
          functionName: job
          runtime: python3.10
          handler: index.handler
          code: ./code
          memorySize: ${vars.memory}
          description: ${this.props.functionName} in ${this.props.region}
          environmentVariables:
            QUEUE: ${vars.queue}
            DEBUG: true
            PORT: 8080
          asyncInvokeConfig:
            asyncTask: true
            destinationConfig:
              onSuccess:
                destination: acs:mns:{region}::/queues/${vars.queue}/messages
              onFailure:
                destination: acs:mns:cn-shanghai:{accountid}:/queues/{failures}/messages
          concurrencyConfig:
            reservedConcurrency: 2
    """


# -- loading ------------------------------------------------------------------------------

def test_seed_demo_loads_as_create_function_and_async_config() -> None:
    deployment = load([DEMO / "s.yaml"], Settings())
    spec = deployment.functions["my-fc-job"]
    assert {k: v for k, v in spec.doc.items() if k != "code"} == {
        "functionName": "my-fc-job", "runtime": "python3", "handler": "index.handler",
        "timeout": 60, "memorySize": 128, "instanceConcurrency": 1,
    }
    with zipfile.ZipFile(BytesIO(__import__("base64").b64decode(spec.doc["code"]["zipFile"]))) as z:
        assert z.namelist() == ["index.py"]
    arn = f"acs:mns:cn-hangzhou:{ACCOUNT}:/queues/myqueue/messages"
    assert spec.async_config == ("LATEST", {
        "asyncTask": True, "maxAsyncRetryAttempts": 1, "maxAsyncEventAgeInSeconds": 172800,
        "destinationConfig": {"onSuccess": {"destination": arn},
                              "onFailure": {"destination": arn}},
    })
    assert deployment.queues == {"myqueue": {}}  # destination queues exist from the start
    assert deployment.settings == {"region": "cn-hangzhou"}


def test_later_files_override_field_by_field() -> None:
    deployment = load([DEMO / "s.yaml", DEMO / "fast.fcemu.yaml"], Settings())
    spec = deployment.functions["my-fc-job"]
    assert spec.doc["timeout"] == 1
    assert spec.doc["memorySize"] == 128 and spec.async_config is not None
    assert spec.origins["timeout"][1] == "functions.my-fc-job.timeout"


def test_references_and_placeholders(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = project(tmp_path, {"s.yaml": S_YAML}) / "s.yaml"
    deployment = load([path], Settings(account_id="42", region="cn-shanghai"))
    spec = deployment.functions["job"]
    assert spec.doc["memorySize"] == 256  # a lone reference keeps its type
    assert spec.doc["description"] == "job in cn-shanghai"
    assert spec.doc["environmentVariables"] == {"QUEUE": "results", "DEBUG": "true",
                                                "PORT": "8080"}
    destinations = spec.async_config[1]["destinationConfig"]  # type: ignore[index]
    # {region} filled, the empty account filled, {failures} has no var: the name itself
    assert destinations == {
        "onSuccess": {"destination": "acs:mns:cn-shanghai:42:/queues/results/messages"},
        "onFailure": {"destination": "acs:mns:cn-shanghai:42:/queues/failures/messages"},
    }
    assert "placeholder {failures} has no value" in caplog.text
    assert spec.reserved_concurrency == 2
    assert set(deployment.queues) == {"results", "failures"}


def test_placeholder_from_vars(tmp_path: Path) -> None:
    text = (DEMO / "s.yaml").read_text().replace("access: default", "vars:\n  myqueue: jobs")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "index.py").write_text(HANDLER)
    (tmp_path / "s.yaml").write_text(text)
    spec = load([tmp_path / "s.yaml"], Settings()).functions["my-fc-job"]
    assert "/queues/jobs/messages" in json.dumps(spec.async_config)


def test_env_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FCEMU_TEST_TIMEOUT", "7")
    text = S_YAML.replace("memorySize: ${vars.memory}",
                          "timeout: ${env('FCEMU_TEST_TIMEOUT')}\n"
                          "          description: ${env('FCEMU_TEST_UNSET', 'fallback')}-"
                          "${env.FCEMU_TEST_TIMEOUT}-${config('AccountID')}")
    text = text.replace("          description: ${this.props.functionName} in "
                        "${this.props.region}\n", "")
    path = project(tmp_path, {"s.yaml": text}) / "s.yaml"
    spec = load([path], Settings()).functions["job"]
    assert spec.doc["timeout"] == 7  # env values are text, converted where numbers are due
    assert spec.doc["description"] == f"fallback-7-{ACCOUNT}"


def test_fcemu_yaml_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FCEMU_TEST_RETRIES", "2")
    path = project(tmp_path, {"fcemu.yaml": """
        vars: {queue: jobs-done}
        functions:
          job:
            runtime: python3
            handler: index.handler
            code: ./code
            asyncInvokeConfig:
              maxAsyncRetryAttempts: ${env('FCEMU_TEST_RETRIES')}
              destinationConfig:
                onSuccess: ${vars.queue}
        queues:
          jobs-done: {visibilityTimeout: "${env('FCEMU_TEST_RETRIES')}"}
        """}) / "fcemu.yaml"
    deployment = load([path], Settings())
    _, doc = deployment.functions["job"].async_config  # type: ignore[misc]
    assert doc["maxAsyncRetryAttempts"] == 2
    target = doc["destinationConfig"]["onSuccess"]["destination"]
    assert target == f"acs:mns:cn-hangzhou:{ACCOUNT}:/queues/jobs-done/messages"
    assert deployment.queues == {"jobs-done": {"VisibilityTimeout": 2}}


def test_unmodelled_props_are_reported_once(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    extra = ("          vpcConfig: auto\n          logConfig: auto\n"
             "          role: acs:ram::123:role/fc\n          customDomain:\n"
             "            domainName: auto\n")
    text = textwrap.dedent(S_YAML).replace("      concurrencyConfig:",
                                           textwrap.dedent(extra).replace("\n", "\n      ")
                                           .join(["      ", "concurrencyConfig:"]))
    path = project(tmp_path, {"s.yaml": text}) / "s.yaml"
    reporter = config.Reporter()  # the emulator keeps one for its life
    with caplog.at_level(logging.WARNING, logger="fcemu.config"):
        deployment = load([path], Settings(), reporter)
        reporter.report_ignored(deployment)
        reporter.report_ignored(load([path], Settings(), reporter))
    lines = [r.message for r in caplog.records if "not modelled" in r.message]
    assert len(lines) == 1
    for name in ("vpcConfig", "logConfig", "role", "customDomain"):
        assert f"resources.job.props.{name} (line" in lines[0]
    doc = deployment.functions["job"].doc
    assert doc["role"] == "acs:ram::123:role/fc"  # echoed by GetFunction
    assert "vpcConfig" not in doc and "customDomain" not in doc  # 'auto', fc3-only: dropped


def test_fcemu_yaml_settings_queues_topics(tmp_path: Path) -> None:
    path = project(tmp_path, {"fcemu.yaml": """
        version: 1
        settings:
          clock: manual
          start: 2024-05-01T00:00:00Z
          seed: 7
          region: cn-beijing
          accountId: 555
          retryBaseMs: 100
        functions:
          worker:
            runtime: python3
            handler: index.handler
            code: code
            asyncInvokeConfig:
              asyncTask: true
              destinationConfig:
                onSuccess: done
                onFailure: {destination: "acs:mns:{region}:{accountid}:/topics/alerts/messages"}
        queues:
          done: {visibilityTimeout: 60}
          audit:
        topics:
          alerts:
            subscriptions:
              to-audit: {queue: audit, notifyContentFormat: SIMPLIFIED}
        """})
    settings = load_settings([path / "fcemu.yaml"], Settings())
    assert (settings.clock, settings.start_ms, settings.seed) == ("manual", T0, 7)
    assert (settings.region, settings.account_id, settings.retry_base_ms) == ("cn-beijing", "555",
                                                                               100)
    deployment = load([path / "fcemu.yaml"], settings)
    assert deployment.queues == {"done": {"VisibilityTimeout": 60}, "audit": {}}
    assert deployment.topics == {"alerts": ({}, {"to-audit": (
        "audit", {"notifyContentFormat": "SIMPLIFIED"})})}
    destinations = deployment.functions["worker"].async_config[1]["destinationConfig"]  # type: ignore[index]
    assert destinations == {
        "onSuccess": {"destination": "acs:mns:cn-beijing:555:/queues/done/messages"},
        "onFailure": {"destination": "acs:mns:cn-beijing:555:/topics/alerts/messages"},
    }


def test_load_settings_later_file_wins(tmp_path: Path) -> None:
    path = project(tmp_path, {"a.yaml": "settings: {region: cn-a, seed: 1}\n",
                              "b.yaml": "settings: {region: cn-b}\n"})
    settings = load_settings([path / "a.yaml", path / "b.yaml", DEMO / "s.yaml"], Settings())
    assert (settings.region, settings.seed) == ("cn-hangzhou", 1)  # s.yaml's region is last


def test_instance_idle_seconds_from_file_and_command_line(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from fcemu.cli import build_parser, settings_from

    path = project(tmp_path, {"a.yaml": "settings: {instanceIdleSeconds: 30}\n",
                              "b.yaml": "settings: {instanceIdleSeconds: \"${env('IDLE')}\"}\n",
                              "bad.yaml": "settings:\n  instanceIdleSeconds: -1\n"})
    assert load_settings([path / "a.yaml"], Settings()).instance_idle_seconds == 30
    monkeypatch.setenv("IDLE", "0.5")  # environment text becomes a number
    assert load_settings([path / "b.yaml"], Settings()).instance_idle_seconds == 0.5
    with pytest.raises(ConfigError, match=r"bad\.yaml:2: settings\.instanceIdleSeconds: "):
        load_settings([path / "bad.yaml"], Settings())
    assert SCHEMA["properties"]["settings"]["properties"]["instanceIdleSeconds"]["minimum"] == 0
    parse = build_parser().parse_args
    assert settings_from(parse(["serve"])).instance_idle_seconds == 300
    assert settings_from(parse(["serve", "--config", str(path / "a.yaml")])) \
        .instance_idle_seconds == 30
    assert settings_from(parse(["serve", "--config", str(path / "a.yaml"),
                                "--instance-idle-seconds", "2.5"])).instance_idle_seconds == 2.5
    for bad in ("-1", "soon", "nan", "inf"):
        with pytest.raises(SystemExit):
            parse(["serve", "--instance-idle-seconds", bad])


def test_zip_is_deterministic_and_keeps_modes(tmp_path: Path) -> None:
    code = project(tmp_path, {}) / "code"
    (code / "bootstrap").write_text("#!/bin/sh\n")
    (code / "bootstrap").chmod(0o755)
    (code / "__pycache__").mkdir()
    (code / "__pycache__" / "index.cpython-311.pyc").write_bytes(b"x")
    first, second = zip_code(code), zip_code(code)
    assert first == second
    with zipfile.ZipFile(BytesIO(first)) as archive:
        assert archive.namelist() == ["bootstrap", "index.py"]
        assert (archive.getinfo("bootstrap").external_attr >> 16) & 0o777 == 0o755
    (tmp_path / "code.zip").write_bytes(first)
    assert zip_code(tmp_path / "code.zip") == first
    with pytest.raises(ValueError, match=r"not a directory or a \.zip file"):
        zip_code(code / "index.py")


# -- errors name the file, the line and the field -----------------------------------------

FUNCTION = ("functions:\n  job:\n    runtime: python3\n    handler: index.handler\n"
            "    code: ./code\n")
S_HEAD = ("edition: 3.0.0\nresources:\n  r:\n    component: fc3\n    props:\n"
          "      functionName: job\n")

BAD_FILES = [
    # (file name, text, line, field, words in the message)
    ("fcemu.yaml", FUNCTION + "    timeout: abc\n", 6, "functions.job.timeout",
     "must be an integer"),
    ("fcemu.yaml", FUNCTION + "    memorySize: 100\n", 6, "functions.job.memorySize",
     "between 128 and 32768"),
    ("fcemu.yaml", FUNCTION + "    asyncInvokeConfig:\n      maxAsyncRetryAttempt: 2\n", 7,
     "functions.job.asyncInvokeConfig.maxAsyncRetryAttempt",
     "did you mean 'maxAsyncRetryAttempts'"),
    ("fcemu.yaml", FUNCTION + "    asyncInvokeConfig:\n      maxAsyncRetryAttempts: 9\n", 7,
     "functions.job.asyncInvokeConfig.maxAsyncRetryAttempts", "between 0 and 8"),
    ("fcemu.yaml", FUNCTION.replace("functions:", "function:"), 1, "function",
     "did you mean 'functions'"),
    ("fcemu.yaml", FUNCTION.replace("./code", "./nowhere"), 5, "functions.job.code",
     "does not exist"),
    ("fcemu.yaml", FUNCTION.replace("python3", "java11"), 3, "functions.job.runtime",
     "not supported by fcemu"),
    ("fcemu.yaml", FUNCTION.replace("    handler: index.handler\n", ""), 2,
     "functions.job.handler", "is required"),
    ("fcemu.yaml", FUNCTION + "    asyncInvokeConfig:\n      destinationConfig:\n"
     "        onSuccess: acs:oss:cn-hangzhou:1:bucket\n", 8,
     "functions.job.asyncInvokeConfig.destinationConfig.onSuccess", "unsupported destination"),
    ("fcemu.yaml", FUNCTION + "    asyncInvokeConfig:\n      qualifier: prod\n", 7,
     "functions.job.asyncInvokeConfig.qualifier", "not LATEST nor a version or alias"),
    ("fcemu.yaml", FUNCTION + "  job:\n    timeout: 3\n", 6, "job", "duplicate key"),
    ("fcemu.yaml", FUNCTION + "  bad name!:\n    runtime: python3\n", 6, "functions.bad name!",
     "invalid name"),
    ("fcemu.yaml", "settings:\n  clock: fast\n", 2, "settings.clock", "one of 'real', 'manual'"),
    ("fcemu.yaml", "settings:\n  start: yesterday\n", 2, "settings.start", ""),
    ("fcemu.yaml", "queues:\n  done:\n    visibilityTimeout: 0\n", 3,
     "queues.done.visibilityTimeout", "between 1 and 43200"),
    ("fcemu.yaml", FUNCTION.replace("./code", "{ossBucketName: b, ossObjectName: o}"), 5,
     "functions.job.code", "offline"),
    ("fcemu.yaml", "functions:\n  job: [1, 2\n", 3, "", "not valid YAML"),
    # a Serverless Devs 2.x file is converted (issue 12): what it lacks is still named
    ("s.yaml", "edition: 1.0.0\nservices:\n  x:\n    component: fc\n    props:\n"
     "      service: {name: s}\n", 6, "services.x.props.function", "must be a mapping"),
    ("s.yaml", "edition: 1.0.0\nservices:\n  x:\n    component: fc\n    props:\n"
     "      service: ${vars.nope}\n      function: {name: f}\n", 6, "services.x.props.service",
     "${vars.<name>}"),
    ("s.yaml", S_HEAD + "      runtime: python3\n      handler: index.handler\n"
     "      code: ./code\n      timeout: 0\n", 10, "resources.r.props.timeout",
     "between 1 and 86400"),
    ("s.yaml", S_HEAD + "      memorySize: ${vars.nope}\n", 7, "resources.r.props.memorySize",
     "vars.nope is not defined"),
    ("s.yaml", S_HEAD + "      handler: ${env('FCEMU_TEST_SURELY_UNSET')}\n", 7,
     "resources.r.props.handler", "FCEMU_TEST_SURELY_UNSET is not set"),
    # ${path('.')} resolves since issue 12: an output, which needs the cloud, is refused
    ("s.yaml", S_HEAD + "      handler: ${resources.r.output.url}\n", 7,
     "resources.r.props.handler", "output exists only once `s deploy` has run it"),
    ("s.yaml", S_HEAD + "      handler: ${this.props.description}\n"
     "      description: ${this.props.handler}\n", 7, "resources.r.props.handler",
     "circular reference"),
    ("s.yaml", S_HEAD.replace("      functionName: job\n", "      region: cn-hangzhou\n"), 5,
     "resources.r.props.functionName", "is required"),
    ("s.yaml", S_HEAD + "      runtime: python3\n      code: ./code\n", 5,
     "resources.r.props.handler", "is required"),
    # a misspelt function field is an error, not a default (issue 11)
    ("fcemu.yaml", FUNCTION + "    timout: 5\n", 6, "functions.job.timout",
     "unknown field (did you mean 'timeout'?)"),
    ("s.yaml", S_HEAD + "      runtime: python3\n      handler: index.handler\n"
     "      code: ./code\n      memorysize: 256\n", 10, "resources.r.props.memorysize",
     "did you mean 'memorySize'?"),
    ("fcemu.yaml", FUNCTION + "    frobnicate: 1\n", 6, "functions.job.frobnicate",
     "if it is an FC field, list it in x-fcemu-allow-unknown"),
    ("fcemu.yaml", FUNCTION + "    x-fcemu-allow-unknown: newField\n", 6,
     "functions.job.x-fcemu-allow-unknown", "must be a list"),
]


@pytest.mark.parametrize(("name", "text", "line", "field", "words"), BAD_FILES,
                         ids=[f"{i}-{case[3] or 'syntax'}" for i, case in enumerate(BAD_FILES)])
def test_bad_files_name_file_line_and_field(tmp_path: Path, name: str, text: str, line: int,
                                            field: str, words: str) -> None:
    path = project(tmp_path, {name: text}) / name
    with pytest.raises(ConfigError) as caught:
        load_settings([path], Settings())
        load([path], Settings())
    error = caught.value
    assert (error.where.path, error.where.line) == (path, line), str(error)  # type: ignore[union-attr]
    assert error.field == field
    assert words in error.message
    assert str(error).startswith(f"{path}:{line}: ")


def test_allow_unknown_accepts_an_unmodelled_field_and_reports_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = project(tmp_path, {"fcemu.yaml": FUNCTION + "    newFcField: {a: 1}\n"
                              "    x-fcemu-allow-unknown: [newFcField]\n"}) / "fcemu.yaml"
    reporter = config.Reporter()
    with caplog.at_level(logging.WARNING, logger="fcemu.config"):
        deployment = load([path], Settings(), reporter)
        reporter.report_ignored(deployment)
    assert deployment.ignored == [(path, "functions.job.newFcField", 6)]
    assert "functions.job.newFcField (line 6)" in caplog.text
    doc = deployment.functions["job"].doc
    assert "newFcField" not in doc and "x-fcemu-allow-unknown" not in doc


def test_every_error_is_reported_not_the_first(tmp_path: Path) -> None:
    files = project(tmp_path, {
        "fcemu.yaml": FUNCTION + "    timout: 5\n    memorySize: 100\n"
                      "  other:\n    runtime: python3\n    handler: index.handler\n"
                      "    code: ./code\n    memroySize: 256\n"
                      "settings:\n  clock: fast\n",
        "more.fcemu.yaml": "queues:\n  q:\n    visibilityTimeout: 0\n"})
    paths = [files / "fcemu.yaml", files / "more.fcemu.yaml"]
    expected = [
        (paths[0], 6, "functions.job.timout", "unknown field (did you mean 'timeout'?)"),
        (paths[0], 7, "functions.job.memorySize", "must be between 128 and 32768, got 100"),
        (paths[0], 12, "functions.other.memroySize",
         "unknown field (did you mean 'memorySize'?)"),
        (paths[0], 14, "settings.clock", "must be one of 'real', 'manual'; got 'fast'"),
        (paths[1], 3, "queues.q.visibilityTimeout", "must be between 1 and 43200, got 0"),
    ]
    for read in (load, load_settings):
        with pytest.raises(ConfigErrors) as caught:
            read(paths, Settings())
        found = [(e.where.path, e.where.line, e.field, e.message)  # type: ignore[union-attr]
                 for e in caught.value.errors]
        assert found == expected  # in file and line order
        lines = str(caught.value).splitlines()
        assert lines[0] == "5 errors in the deployment files:"
        assert len(lines) == 6 and all(line.startswith(f"  {files}") for line in lines[1:])


def test_build_errors_of_every_function_are_reported(tmp_path: Path) -> None:
    text = (FUNCTION.replace("./code", "./nowhere")
            + "  other:\n    runtime: java11\n    handler: index.handler\n"
            "    code: ./code\n")
    path = project(tmp_path, {"fcemu.yaml": text}) / "fcemu.yaml"
    with pytest.raises(ConfigErrors) as caught:
        load([path], Settings())
    assert [(e.field, e.where.line) for e in caught.value.errors] == [  # type: ignore[union-attr]
        ("functions.job.code", 5), ("functions.other.runtime", 7)]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load([tmp_path / "absent.yaml"], Settings())


# -- the JSON Schema ----------------------------------------------------------------------

def test_schema_is_valid_json_schema_and_accepts_the_samples() -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="pip install -e '.[test]'")
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    samples = [*(ROOT / "fixtures").rglob("*fcemu.yaml")]
    assert samples
    for sample in samples:  # read as fcemu reads it: dates stay text, as in YAML 1.2
        jsonschema.validate(json.loads(json.dumps(load_yaml(sample))), SCHEMA)


# -- applying to an emulator --------------------------------------------------------------

def _call(emu: fcemu.Emulator, fn: Any) -> Any:
    async def run(engine: Any) -> Any:
        return fn(engine)

    return emu.call(run)


def test_apply_config_deploys_and_survives_reset(tmp_path: Path) -> None:
    path = project(tmp_path, {"s.yaml": S_YAML}) / "s.yaml"
    with fcemu.Emulator(clock="manual", config=(path,)) as emu:
        def state(engine: Any) -> Any:
            function = engine.functions["job"]
            return (function.memory_size, function.environment_variables["QUEUE"],
                    engine.async_configs[("job", "LATEST")].async_task,
                    engine.concurrency["job"].reserved_concurrency,
                    sorted(q.name for q in engine.smq.list_queues()[0]))

        expected = (256, "results", True, 2, ["failures", "results"])
        assert _call(emu, state) == expected
        emu.reset()
        assert _call(emu, state) == expected


def test_every_reset_deploys_again_and_warnings_come_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The emulator hands the engine its deployer: a reset through the control API deploys
    the files again too, and the emulator's reporter warns about a placeholder once."""
    path = project(tmp_path, {"s.yaml": S_YAML}) / "s.yaml"
    with caplog.at_level(logging.WARNING, logger="fcemu.config"), \
            fcemu.Emulator(clock="manual", config=(path,)) as emu:
        _call(emu, lambda e: e.delete_function("job"))
        emu.reset()
        _call(emu, lambda e: e.delete_function("job"))
        request = urllib.request.Request(f"{emu.endpoint}/_fcemu/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30) as reply:
            assert json.load(reply)["status"] == "ok"
        assert _call(emu, lambda e: e.get_function("job").memory_size) == 256
    assert caplog.text.count("placeholder {failures} has no value") == 1


def test_a_bad_file_at_start_leaves_nothing_behind(tmp_path: Path) -> None:
    path = project(tmp_path, {"fcemu.yaml": FUNCTION + "    timeout: 0\n"}) / "fcemu.yaml"
    (tmp_path / "data").mkdir()
    emu = fcemu.Emulator(clock="manual", config=(path,), data_dir=tmp_path / "data")
    with pytest.raises(ConfigError, match=r"fcemu\.yaml:6: functions\.job\.timeout"):
        emu.start()
    assert not emu.running
    # the engine's code store is gone; the lock file stays, released (fcemu.store.lock)
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["fcemu.lock"]
    DirectoryLock.take(tmp_path / "data").release()  # another server may take it now


def test_engine_errors_become_config_errors(tmp_path: Path) -> None:
    """What the engine still refuses is reported at the function's declaration."""
    path = project(tmp_path, {"fcemu.yaml": FUNCTION}) / "fcemu.yaml"

    class Refusing:
        def get_function(self, name: str) -> None:
            raise FunctionNotFound(name)

        def create_function(self, doc: dict[str, Any]) -> None:
            raise InvalidArgument("handler index.handler: no such module")

    with pytest.raises(ConfigError, match=r"fcemu\.yaml:2: functions\.job: InvalidArgument: "
                                          r"handler index\.handler: no such module"):
        config.deploy(Refusing(), load([path], Settings()), strict=True)  # type: ignore[arg-type]


def test_watcher_redeploys_changes_and_keeps_tasks(tmp_path: Path) -> None:
    root = project(tmp_path, {"fcemu.yaml": FUNCTION + "    asyncInvokeConfig:\n"
                                                       "      asyncTask: true\n"})
    path = root / "fcemu.yaml"
    with fcemu.Emulator(clock="manual", config=(path,)) as emu:
        async def start(engine: Any) -> config.Watcher:
            return config.watch(engine, [path], interval=3600)

        watcher = emu.call(start)

        async def invoke(engine: Any) -> str:
            result = await engine.invoke_function("job", b"x", asynchronous=True, task_id="t1")
            return result.task.task_id

        emu.call(invoke)
        emu.drain()
        assert _call(emu, lambda e: watcher.poll()) is False  # nothing changed
        (root / "code" / "index.py").write_text(HANDLER.replace("v1", "version2"))
        path.write_text(path.read_text() + "    timeout: 9\n")
        assert _call(emu, lambda e: watcher.poll()) is True

        async def sync(engine: Any) -> tuple[bytes, int, str]:
            result = await engine.invoke_function("job", b"y")
            return result.outcome.body, engine.functions["job"].timeout, \
                engine.tasks.get("job", "t1").status.value

        assert emu.call(sync) == (b"version2:y", 9, "Succeeded")
        path.write_text(path.read_text() + "    memorySize: 1\n")  # an error: keep going
        assert _call(emu, lambda e: watcher.poll()) is False
        assert _call(emu, lambda e: e.functions["job"].timeout) == 9

        async def stop(engine: Any) -> None:
            await watcher.stop()

        emu.call(stop)


def test_watcher_runs_on_the_loop_in_real_time(tmp_path: Path) -> None:
    """The polling task runs without any clock move (a manual clock does not stop it): it
    waits on its timer (real seconds by default; here one the test fires), then polls."""
    path = project(tmp_path, {"fcemu.yaml": FUNCTION}) / "fcemu.yaml"
    with fcemu.Emulator(clock="manual", config=(path,)) as emu:
        async def start_and_tick(engine: Any) -> bool:
            waits: asyncio.Queue[float] = asyncio.Queue()  # the watcher is waiting
            ticks: asyncio.Queue[None] = asyncio.Queue()  # the wait is over

            async def timer(seconds: float) -> None:
                waits.put_nowait(seconds)
                await ticks.get()

            watcher = config.watch(engine, [path], interval=0.01, timer=timer)
            assert await asyncio.wait_for(waits.get(), 10) == 0.01
            path.write_text(path.read_text() + "    timeout: 5\n")
            ticks.put_nowait(None)
            await asyncio.wait_for(waits.get(), 10)  # it polled, and waits again
            await watcher.stop()
            return bool(engine.functions["job"].timeout == 5)

        assert emu.call(start_and_tick)
