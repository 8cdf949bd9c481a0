"""Layers (issue 12, gap 6) below the API: merging into one /opt directory in FC's order,
the layer map (Settings, Emulator, fcemu.yaml, --layer), a function's opt_dir through
its life (update, delete, reset), and deploy-time errors naming the ARN, the file and
line, and how to map it."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

import fcemu
from fcemu.config import ConfigError, load, load_settings
from fcemu.errors import InvalidArgument, LayerVersionNotFound
from fcemu.layers import merge
from fcemu.settings import Settings
from fcemu.specs import FunctionSpec
from tests.cli.conftest import fcemu as run_fcemu

OTHER = "acs:fc:cn-hangzhou:1880770869023456:layers/{}/versions/1"
OFFICIAL = "acs:fc:cn-hangzhou:official:layers/Python310/versions/2"


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def zip_file(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def contents(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def test_merge_puts_the_first_layer_last_so_its_files_win(tmp_path: Path) -> None:
    first = tree(tmp_path / "first", {"python/m.py": "first", "lib/a": "first",
                                      "bin": "a file where the other has a folder"})
    second = zip_file(tmp_path / "second.zip", {"python/m.py": "second", "python/s.py": "s",
                                                "bin/tool": "x", "lib/a/deep": "dir"})
    dest = tmp_path / "opt"
    merge([("arn-1", first), ("arn-2", second)], dest)
    assert contents(dest) == {"bin": "a file where the other has a folder", "lib/a": "first",
                              "python/m.py": "first", "python/s.py": "s"}
    dest2 = tmp_path / "opt2"
    merge([("arn-2", second), ("arn-1", first)], dest2)
    assert contents(dest2) == {"bin/tool": "x", "lib/a/deep": "dir", "python/m.py": "second",
                               "python/s.py": "s"}


def test_merge_keeps_links_and_skips_caches(tmp_path: Path) -> None:
    layer = tree(tmp_path / "layer", {"lib/libx.so.1": "elf", "python/__pycache__/m.pyc": ""})
    os.symlink("libx.so.1", layer / "lib" / "libx.so")
    merge([("arn", layer)], tmp_path / "opt")
    assert os.readlink(tmp_path / "opt" / "lib" / "libx.so") == "libx.so.1"
    assert not (tmp_path / "opt" / "python" / "__pycache__").exists()


def test_merge_names_the_layer_it_cannot_read_and_leaves_nothing(tmp_path: Path) -> None:
    good = tree(tmp_path / "good", {"python/m.py": ""})
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InvalidArgument, match=r"layer arn-bad \(.*bad\.zip\): .*zip"):
        merge([("arn-good", good), ("arn-bad", bad)], tmp_path / "opt")
    with pytest.raises(InvalidArgument, match=r"layer arn-gone \(.*\): the path does not "
                                              r"exist \(expected a folder or a \.zip file\)"):
        merge([("arn-gone", tmp_path / "gone")], tmp_path / "opt")
    assert not (tmp_path / "opt").exists() and not (tmp_path / "opt.unzip").exists()


def test_settings_layer_map_takes_a_mapping_or_pairs_and_checks_arns(tmp_path: Path) -> None:
    arn = OTHER.format("a")
    settings = Settings(layer_map={arn: "rel/dir"})
    assert settings.layer_map == ((arn, Path("rel/dir").absolute()),)
    assert Settings(layer_map=[(arn, tmp_path)]).layer_map == ((arn, tmp_path),)
    with pytest.raises(ValueError, match="'acs:fc:x' is not a layer version ARN"):
        Settings(layer_map={"acs:fc:x": tmp_path})
    with pytest.raises(ValueError, match="expected a mapping of layer ARN to path"):
        Settings(layer_map="nope")


PROBE = """\
import json, os

def handler(event, context):
    import shared
    python = os.path.dirname(shared.__file__)  # /opt/python in a sandbox
    return json.dumps({"who": shared.WHO,
                       "opt": sorted(n for n in os.listdir(python) if n.endswith(".py"))})
"""


def _engine(emu: fcemu.Emulator, fn: Any) -> Any:
    async def run(engine: Any) -> Any:
        return fn(engine)

    return emu.call(run)


def _opt(emu: fcemu.Emulator, name: str) -> Any:
    return _engine(emu, lambda engine: engine.get_function(name).opt_dir)


def _update(emu: fcemu.Emulator, name: str, **fields: Any) -> None:
    _engine(emu, lambda engine: engine.update_function(name, FunctionSpec.of(**fields)))


def test_emulator_layer_map_gives_a_function_its_opt_through_its_life(tmp_path: Path) -> None:
    a = tree(tmp_path / "a", {"python/shared.py": "WHO = 'a'\n"})
    b = zip_file(tmp_path / "b.zip", {"python/shared.py": "WHO = 'b'\n", "python/b.py": ""})
    code = tree(tmp_path / "code", {"index.py": PROBE})
    layer_a, layer_b = OTHER.format("a"), OFFICIAL
    with fcemu.Emulator(clock="manual", layer_map={layer_a: a, layer_b: b},
                        data_dir=tmp_path) as emu:
        emu.register_function("f", code=code, layers=[layer_a, layer_b])
        first = _opt(emu, "f")
        assert [p for p in first.parent.iterdir() if p.name.startswith("f-opt")] == [first]
        sizes = _engine(emu, lambda engine: engine.get_function("f").layer_sizes)
        assert sizes == {layer_b: b.stat().st_size}  # a folder has no package size
        assert contents(first) == {"python/b.py": "", "python/shared.py": "WHO = 'a'\n"}
        assert json.loads(emu.invoke("f")) == {"who": "a",
                                                       "opt": ["b.py", "shared.py"]}
        _update(emu, "f", layers=[layer_b])
        assert json.loads(emu.invoke("f"))["who"] == "b"
        emu.settle()
        assert not first.exists()  # the old /opt went with the old instances
        _update(emu, "f", timeout=5)  # layers not named: kept
        second = _opt(emu, "f")
        assert second is not None and second.exists()
        emu.delete_function("f")
        emu.settle()
        assert not second.exists()


def test_a_refused_layer_changes_nothing_and_says_how_to_map_it(tmp_path: Path) -> None:
    code = tree(tmp_path / "code", {"index.py": PROBE})
    with fcemu.Emulator(clock="manual", data_dir=tmp_path) as emu:
        with pytest.raises(LayerVersionNotFound) as caught:
            emu.register_function("f", code=code, layers=[OFFICIAL])
        assert f"--layer {OFFICIAL}=PATH" in caught.value.message
        assert f"Emulator(layer_map={{\"{OFFICIAL}\": PATH}})" in caught.value.message
        with pytest.raises(InvalidArgument, match="at most 5 layers, got 6"):
            emu.register_function("f", code=code,
                                  layers=[OTHER.format(n) for n in "abcdef"])
        with pytest.raises(InvalidArgument, match=r"layers: 'nope' is not a layer version ARN"):
            emu.register_function("f", code=code, layers=["nope"])
        assert _engine(emu, lambda engine: engine.list_functions()[0]) == []


FCEMU_YAML = """\
version: 1
settings:
  layers:
    "{arn}": {path}
functions:
  f:
    runtime: python3.10
    handler: index.handler
    code: ./code
    layers: ["{arn}"]
"""


def test_fcemu_yaml_maps_layers_relative_to_the_file(tmp_path: Path) -> None:
    arn = OTHER.format("shared")
    tree(tmp_path / "layer", {"python/shared.py": "WHO = 'yaml'\n"})
    tree(tmp_path / "code", {"index.py": PROBE})
    path = tmp_path / "fcemu.yaml"
    path.write_text(FCEMU_YAML.format(arn=arn, path="./layer"))
    settings = load_settings([path], Settings())
    assert settings.layer_map == ((arn, tmp_path / "layer"),)
    with fcemu.Emulator(load_settings([path], Settings(port=0, clock="manual"))
                        .replace(config=(path,))) as emu:
        assert json.loads(emu.invoke("f"))["who"] == "yaml"
        emu.reset()  # deployed again, layers and all
        assert json.loads(emu.invoke("f"))["who"] == "yaml"


def test_fcemu_yaml_layer_paths_must_exist(tmp_path: Path) -> None:
    path = tmp_path / "fcemu.yaml"
    path.write_text(FCEMU_YAML.format(arn=OTHER.format("x"), path="./missing"))
    with pytest.raises(ConfigError, match=r"fcemu\.yaml:4: settings\.layers\.acs:fc:.*"
                                          r"missing does not exist: map the layer to a folder"):
        load_settings([path], Settings())


S_YAML = """\
edition: 3.0.0
name: p
resources:
  f:
    component: fc3
    props:
      region: cn-hangzhou
      functionName: f
      runtime: python3.10
      handler: index.handler
      code: ./code
      layers:
        - {arn}
"""


def test_an_own_account_layer_missing_at_deploy_names_the_layers_line(tmp_path: Path) -> None:
    arn = "acs:fc:cn-hangzhou:1234567890123456:layers/mine/versions/1"  # fcemu's account
    tree(tmp_path / "code", {"index.py": PROBE})
    path = tmp_path / "s.yaml"
    path.write_text(S_YAML.format(arn=arn))
    assert list(load([path], Settings()).functions) == ["f"]  # it could be created first
    emu = fcemu.Emulator(clock="manual", config=(path,))
    with pytest.raises(ConfigError, match=r"s\.yaml:12: resources\.f\.props\.layers: "
                                          r"LayerVersionNotFound: layer version "
                                          + arn.replace(".", r"\.")):
        emu.start()
    assert not emu.running


def test_a_reload_that_drops_the_layers_clears_opt(tmp_path: Path) -> None:
    arn = OTHER.format("shared")
    tree(tmp_path / "layer", {"python/shared.py": "WHO = 'x'\n"})
    tree(tmp_path / "code", {"index.py": PROBE})
    path = tmp_path / "fcemu.yaml"
    path.write_text(FCEMU_YAML.format(arn=arn, path="./layer"))
    with fcemu.Emulator(load_settings([path], Settings(port=0, clock="manual"))
                        .replace(config=(path,))) as emu:
        assert _opt(emu, "f") is not None
        emu.watch_config(interval=None)
        path.write_text(FCEMU_YAML.format(arn=arn, path="./layer").replace(
            f'    layers: ["{arn}"]\n', "    timeout: 9\n"))
        assert emu.poll_config()
        assert _opt(emu, "f") is None


@pytest.mark.parametrize(("value", "message"), [
    ("no-equals", "expected ARN=PATH"),
    (f"{OFFICIAL}=/definitely/not/here", "/definitely/not/here does not exist"),
    ("acs:fc:bad=.", "'acs:fc:bad' is not a layer version ARN"),
])
def test_cli_layer_option_is_checked(value: str, message: str) -> None:
    result = run_fcemu("serve", "--port", "0", "--layer", value)
    assert result.code == 2 and message in result.err


def test_layer_zip_built_in_memory_is_accepted_by_the_cli_check(tmp_path: Path) -> None:
    arn = OTHER.format("zipped")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/shared.py", "WHO = 'zip'\n")
    (tmp_path / "layer.zip").write_bytes(buffer.getvalue())
    tree(tmp_path / "code", {"index.py": PROBE})
    (tmp_path / "s.yaml").write_text(S_YAML.format(arn=arn))
    result = run_fcemu("check", "s.yaml", "--layer", f"{arn}=layer.zip", cwd=tmp_path)
    assert result.code == 0, result.err
