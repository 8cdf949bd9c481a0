"""Versions and aliases declared in deployment files (``x-fcemu-versions``,
``x-fcemu-aliases``): published and created at deploy, again after each reset, and
usable as the qualifier of the function's ``asyncInvokeConfig``."""

from __future__ import annotations

import json
import textwrap
import urllib.request
from pathlib import Path

import pytest

import fcemu
from fcemu.code import zip_code_base64
from fcemu.config import ConfigError, ConfigErrors, apply_config, load
from fcemu.engine import Engine
from fcemu.settings import Settings
from fcemu.specs import FunctionSpec

HANDLER = "def handler(event, context):\n    return context.function.qualifier\n"

S_YAML = """
    edition: 3.0.0
    name: app
    resources:
      job:
        component: fc3
        props:
          region: cn-hangzhou
          functionName: job
          runtime: python3.12
          handler: index.handler
          code: ./code
          x-fcemu-versions:
            - description: first
            - description: second
          x-fcemu-aliases:
            - aliasName: prod
              versionId: 1
              additionalVersionWeight:
                "2": 0.25
          asyncInvokeConfig:
            qualifier: prod
            destinationConfig:
              onSuccess: acs:mns:{region}:{accountid}:/queues/done/messages
"""


def project(tmp_path: Path, text: str = S_YAML) -> Path:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "index.py").write_text(HANDLER)
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def invoke_async(emu: fcemu.Emulator, qualifier: str) -> None:
    request = urllib.request.Request(
        f"{emu.endpoint}/2023-03-30/functions/job/invocations?qualifier={qualifier}",
        data=b"{}", method="POST", headers={"x-fc-invocation-type": "Async"})
    urllib.request.urlopen(request).close()


def test_versions_and_aliases_are_deployed_and_redeployed_at_reset(tmp_path: Path) -> None:
    path = project(tmp_path)
    with fcemu.Emulator(clock="manual", config=(path,)) as emu:
        for _ in range(2):  # as deployed, then after a reset
            async def state(engine: Engine) -> tuple[object, object, object]:
                versions, _ = engine.list_function_versions("job", direction="FORWARD")
                alias = engine.get_alias("job", "prod")
                return ([(v.version_id, v.description) for v in versions],
                        (alias.version_id, alias.additional_version_weight),
                        engine.get_async_invoke_config("job", "prod").on_success)

            versions, alias, destination = emu.call(state)
            assert versions == [("1", "first"), ("2", "second")]
            assert alias == ("1", {"2": 0.25})
            assert str(destination).endswith(":/queues/done/messages")
            invoke_async(emu, "prod")
            emu.drain()
            [message] = emu.queue("done").json()
            assert message["requestContext"]["functionArn"].endswith(":functions/job/prod")
            assert message["responsePayload"] == "prod"
            emu.reset()


@pytest.mark.parametrize(("change", "field", "needle"), [
    (("versionId: 1", "versionId: 3"), "x-fcemu-aliases", "version 3 is not one of the 2"),
    (('"2": 0.25', '"1": 0.25'), "x-fcemu-aliases", "should not contain major version 1"),
    (("qualifier: prod", "qualifier: staging"), "asyncInvokeConfig.qualifier",
     "'staging' is not LATEST nor a version or alias"),
])
def test_bad_declarations_name_file_line_and_field(tmp_path: Path, change: tuple[str, str],
                                                   field: str, needle: str) -> None:
    path = project(tmp_path, S_YAML.replace(*change))
    with pytest.raises((ConfigError, ConfigErrors)) as info:
        load([path], Settings())
    text = str(info.value)
    assert field in text and needle in text and "s.yaml:" in text


def test_a_reload_keeps_published_versions(tmp_path: Path) -> None:
    path = project(tmp_path)
    with fcemu.Emulator(clock="manual", config=(path,)) as emu:
        async def publish_more(engine: Engine) -> list[str]:
            apply_config(engine, [path])  # the same files again: nothing new to publish
            versions, _ = engine.list_function_versions("job")
            return [v.version_id for v in versions]

        assert emu.call(publish_more) == ["2", "1"]


@pytest.mark.parametrize("now", ["", "asyncInvokeConfig:\n  qualifier: LATEST\n"],
                         ids=["none", "LATEST"])
def test_a_reload_deletes_the_async_config_of_a_qualifier_no_longer_set(
        tmp_path: Path, now: str) -> None:
    """The files stop setting prod's asyncInvokeConfig (set none, or LATEST's): a reload
    deletes prod's, as LATEST's is deleted when the files no longer set it."""
    path = project(tmp_path)
    with fcemu.Emulator(clock="manual", config=(path,)) as emu:
        text = path.read_text()
        head = text.split("      asyncInvokeConfig:")[0]
        path.write_text(head + textwrap.indent(now, "      "))

        async def reload(engine: Engine) -> list[str]:
            apply_config(engine, [path])
            configs, _ = engine.list_async_invoke_configs("job")
            return [c.qualifier for c in configs]

        assert emu.call(reload) == (["LATEST"] if now else [])


def test_the_python_api_publishes_aliases_and_pauses() -> None:
    with fcemu.Emulator(clock="manual") as emu:
        emu.register_function("f", lambda event, context: context.function.version_id,
                              runtime="python3.12")
        assert emu.publish_version("f", "one")["versionId"] == "1"
        emu.publish_version("f")
        assert [v["versionId"] for v in emu.list_versions("f")] == ["1", "2"]
        created = emu.create_alias("f", "prod", "1", weights={"2": 0.5})
        assert created["additionalVersionWeight"] == {"2": 0.5}
        emu.update_alias("f", "prod", version_id="2", weights={})
        assert emu.invoke("f", qualifier="prod") == "2"
        emu.disable_invocation("f", reason="maintenance")
        with pytest.raises(fcemu.FcError, match="maintenance"):
            emu.invoke("f")
        emu.enable_invocation("f")
        assert emu.invoke("f") == ""
        emu.delete_alias("f", "prod")


def test_a_custom_runtime_gets_the_qualifier_and_version_headers(tmp_path: Path) -> None:
    import shutil
    import sys

    code = tmp_path / "web"
    shutil.copytree(Path(__file__).resolve().parents[2] / "fixtures" / "custom" / "http-server",
                    code)
    with fcemu.Emulator(clock="manual") as emu:
        emu.register_function("web", code=code, runtime="custom.debian12",
                              customRuntimeConfig={"command": ["sh", "-c"],
                                                   "args": [f"{sys.executable} -u server.py"]})
        emu.publish_version("web")
        emu.create_alias("web", "prod", "1")
        seen = json.loads(emu.invoke("web", "headers", qualifier="prod"))["headers"]
        assert (seen["x-fc-qualifier"], seen["x-fc-version-id"]) == ("prod", "1")
        latest = json.loads(emu.invoke("web", "headers"))["headers"]
        assert latest["x-fc-qualifier"] == "LATEST" and "x-fc-version-id" not in latest


def test_fcemu_yaml_declares_them_too(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "index.py").write_text(HANDLER)
    path = tmp_path / "fcemu.yaml"
    path.write_text(textwrap.dedent("""
        functions:
          job:
            runtime: python3.12
            handler: index.handler
            code: ./code
            x-fcemu-versions: [{description: only}]
            x-fcemu-aliases: [{aliasName: live, versionId: "1"}]
        """).lstrip())
    entry = load([path], Settings()).functions["job"]
    assert (entry.versions, entry.aliases) == (["only"], [{"aliasName": "live",
                                                           "versionId": "1"}])
    with fcemu.Emulator(clock="manual", config=(path,)) as emu:
        assert emu.invoke("job", qualifier="live") == "live"


def test_version_code_lives_until_its_version_or_function_goes(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "index.py").write_text(HANDLER)
    with fcemu.Emulator(clock="manual") as emu:
        emu.register_function("f", code=tmp_path / "code", runtime="python3.12")
        emu.publish_version("f")
        (tmp_path / "code" / "index.py").write_text(HANDLER.replace("qualifier", "name"))

        async def update(engine: Engine) -> None:
            spec = FunctionSpec.of(zip_file=zip_code_base64(tmp_path / "code"))
            engine.update_function("f", spec)

        emu.call(update)
        emu.publish_version("f")

        async def dirs(engine: Engine) -> list[Path]:
            return [v.snapshot.code_dir for v in engine.versions["f"].values()]

        first, second = emu.call(dirs)
        assert first != second and first.exists() and second.exists()
        assert emu.invoke("f", qualifier="1") == "1"  # LATEST's update left version 1 whole
        assert emu.invoke("f", qualifier="2") == "f"
        emu.call(_delete_version)
        emu.settle()
        assert not first.exists() and second.exists()  # LATEST still runs from it
        emu.delete_function("f")
        emu.settle()
        assert not second.exists()


async def _delete_version(engine: Engine) -> None:
    engine.delete_function_version("f", "1")
