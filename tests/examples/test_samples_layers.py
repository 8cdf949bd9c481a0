"""The layer and ``${path()}`` samples (issue 12, gaps 4 and 6) load unchanged through
``fcemu check`` and ``fcemu serve --config`` and run through the official FC SDK:
fixtures/samples/local-layer (an s.yaml listing another account's layer ARN, mapped to a
local folder by fcemu.yaml or ``--layer``) and fixtures/samples/path-expr."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from alibabacloud_fc20230330 import models as fc
from alibabacloud_fc20230330.client import Client
from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_util.models import RuntimeOptions

from tests.cli.conftest import ROOT, fcemu, serving

LAYER_SAMPLE = ROOT / "fixtures" / "samples" / "local-layer"
PATH_SAMPLE = ROOT / "fixtures" / "samples" / "path-expr"
ARN = "acs:fc:cn-hangzhou:1880770869023456:layers/greetings/versions/3"


def client_for(url: str) -> Client:
    return Client(Config(access_key_id="AKID", access_key_secret="SECRET",
                         endpoint=url.removeprefix("http://"), protocol="http",
                         region_id="cn-hangzhou"))


def invoke(client: Client, name: str, payload: bytes = b"{}") -> Any:
    headers = fc.InvokeFunctionHeaders(x_fc_invocation_type="Sync")
    answer = client.invoke_function_with_options(
        name, fc.InvokeFunctionRequest(body=io.BytesIO(payload)), headers, RuntimeOptions())
    return json.loads(answer.body.read())


def test_check_names_an_unmapped_layer_its_line_and_how_to_map_it() -> None:
    result = fcemu("check", str(LAYER_SAMPLE / "s.yaml"))
    assert result.code == 2 and not result.out
    assert "local-layer/s.yaml:21: resources.greeter.props.layers:" in result.err
    assert f"layer {ARN} is not available locally" in result.err
    assert f"fcemu serve --layer {ARN}=PATH" in result.err
    assert "settings: layers:" in result.err and "fcemu.yaml" in result.err


@pytest.mark.parametrize("mapping", [["fcemu.yaml"], ["--layer", f"{ARN}=./layer"]])
def test_check_accepts_the_layer_mapped_by_fcemu_yaml_or_the_cli(mapping: list[str]) -> None:
    result = fcemu("check", "s.yaml", *mapping, cwd=LAYER_SAMPLE)
    assert (result.code, result.out.strip()) == (0, "ok: functions greeter; queues none"), \
        result.err


@pytest.mark.fc_verified("the function runs as on FC with the layer at /opt: "
                         "https://www.alibabacloud.com/help/en/functioncompute/fc-3-0/"
                         "user-guide/create-a-custom-layer-1")
@pytest.mark.parametrize("mapping", [["--config", "fcemu.yaml"], ["--layer", f"{ARN}=layer"]])
def test_served_layer_sample_imports_from_opt(tmp_path: Path, mapping: list[str]) -> None:
    with serving("--config", "s.yaml", *mapping, cwd=LAYER_SAMPLE,
                 log=tmp_path / "serve.log") as server:
        client = client_for(server.url)
        function = client.get_function("greeter", fc.GetFunctionRequest()).body
        assert [layer.arn for layer in function.layers] == [ARN]
        assert invoke(client, "greeter", b'{"name": "layers"}') == {
            "greeting": "Hello, layers, from a layer!"}


def test_check_path_expressions() -> None:
    result = fcemu("check", "--json", str(PATH_SAMPLE / "s.yaml"))
    assert result.code == 0, result.err
    function = json.loads(result.out)["functions"]["where"]["function"]
    assert function["environmentVariables"] == {"BUILT_FROM": str(PATH_SAMPLE / "code")}


@pytest.mark.fc_verified("${path()} is evaluated at deploy time, so FC sees the string: "
                         "https://docs.serverless-devs.com/user-guide/spec/")
def test_served_path_sample_runs(tmp_path: Path) -> None:
    with serving("--config", str(PATH_SAMPLE / "s.yaml"), log=tmp_path / "serve.log") \
            as server:
        answer = invoke(client_for(server.url), "where")
        assert answer["builtFrom"] == str(PATH_SAMPLE / "code")
        assert "index.py" in answer["files"]
