"""The layer operations through the official FC 3.0 SDK over 127.0.0.1 (issue 12, gap 6):
CreateLayerVersion, GetLayerVersion, GetLayerVersionByArn, ListLayers, ListLayerVersions,
DeleteLayerVersion and PutLayerACL, and a function whose ``layers`` give it ``/opt``."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest
from alibabacloud_fc20230330 import models as fc
from alibabacloud_tea_openapi.exceptions import ClientException
from darabonba.runtime import RuntimeOptions

from fcemu.code import crc64
from tests.contract.conftest import create_function


def layer_zip(files: dict[str, str]) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return base64.b64encode(buffer.getvalue()).decode()


def publish(client, name: str, files: dict[str, str], **fields: object) -> fc.Layer:
    body = fc.CreateLayerVersionInput(code=fc.InputCodeLocation(zip_file=layer_zip(files)),
                                      **fields)
    return client.create_layer_version(name, fc.CreateLayerVersionRequest(body=body)).body


def client_error(call) -> ClientException:
    with pytest.raises(ClientException) as info:
        call()
    return info.value


def invoke(client, name: str) -> bytes:
    headers = fc.InvokeFunctionHeaders(x_fc_invocation_type="Sync")
    response = client.invoke_function_with_options(
        name, fc.InvokeFunctionRequest(body=io.BytesIO(b"{}")), headers, RuntimeOptions())
    return response.body.read()


@pytest.mark.fc_verified
def test_create_layer_versions_numbers_them_and_returns_the_layer(fc_client, fcemu) -> None:
    zipped = layer_zip({"python/helper.py": "X = 1\n"})
    body = fc.CreateLayerVersionInput(code=fc.InputCodeLocation(zip_file=zipped),
                                      compatible_runtime=["python3.10", "python3.12"],
                                      description="my first layer", license="Apache")
    first = fc_client.create_layer_version(
        "helpers", fc.CreateLayerVersionRequest(body=body)).body
    assert first.layer_name == "helpers" and first.version == 1
    assert first.layer_version_arn == (
        f"acs:fc:{fcemu.region}:{fcemu.account_id}:layers/helpers/versions/1")
    assert first.compatible_runtime == ["python3.10", "python3.12"]
    assert (first.description, first.license, first.acl) == ("my first layer", "Apache", "0")
    raw = base64.b64decode(zipped)
    assert (first.code_size, first.code_checksum) == (len(raw), crc64(raw))
    assert first.create_time.endswith("Z") and first.code.repository_type == "OSS"
    second = publish(fc_client, "helpers", {"python/helper.py": "X = 2\n"})
    assert second.version == 2 and second.layer_version_arn.endswith("/versions/2")
    got = fc_client.get_layer_version("helpers", "1").body
    assert got.to_map() == first.to_map()
    by_arn = fc_client.get_layer_version_by_arn(second.layer_version_arn).body
    assert by_arn.to_map() == second.to_map()


@pytest.mark.fc_verified
def test_list_layer_versions_pages_by_start_version(fc_client) -> None:
    for n in range(3):
        publish(fc_client, "paged", {"lib/f.txt": str(n)})
    page = fc_client.list_layer_versions(
        "paged", fc.ListLayerVersionsRequest(limit=2)).body
    assert [v.version for v in page.layers] == [1, 2] and page.next_version == 3
    rest = fc_client.list_layer_versions(
        "paged", fc.ListLayerVersionsRequest(start_version=page.next_version, limit=2)).body
    assert [v.version for v in rest.layers] == [3] and rest.next_version is None


@pytest.mark.fc_verified
def test_list_layers_gives_the_latest_version_of_each_by_prefix_and_token(fc_client) -> None:
    for name in ("app-a", "app-b", "app-b", "app-c", "other"):
        publish(fc_client, name, {"bin/tool": "#!/bin/sh\n"})
    page = fc_client.list_layers(fc.ListLayersRequest(prefix="app-", limit=2)).body
    assert [(x.layer_name, x.version) for x in page.layers] == [("app-a", 1), ("app-b", 2)]
    assert page.next_token
    rest = fc_client.list_layers(
        fc.ListLayersRequest(prefix="app-", limit=2, next_token=page.next_token)).body
    assert [x.layer_name for x in rest.layers] == ["app-c"] and not rest.next_token
    official = fc_client.list_layers(fc.ListLayersRequest(official="true")).body
    assert official.layers == []


@pytest.mark.fc_verified
def test_put_layer_acl_makes_every_version_public(fc_client) -> None:
    publish(fc_client, "shared", {"lib/a.txt": "a"})
    publish(fc_client, "private", {"lib/a.txt": "a"})
    fc_client.put_layer_acl("shared", fc.PutLayerACLRequest(acl="1"))
    assert fc_client.get_layer_version("shared", "1").body.acl == "1"
    listed = fc_client.list_layers(fc.ListLayersRequest(public="true")).body
    assert [x.layer_name for x in listed.layers] == ["shared"]
    assert publish(fc_client, "shared", {"lib/a.txt": "b"}).acl == "1"
    error = client_error(lambda: fc_client.put_layer_acl(
        "shared", fc.PutLayerACLRequest(acl="2")))
    assert (error.status_code, error.code) == (400, "InvalidArgument")


@pytest.mark.fc_verified
def test_delete_layer_version_and_the_not_found_errors(fc_client) -> None:
    one = publish(fc_client, "gone", {"lib/a.txt": "a"})
    publish(fc_client, "gone", {"lib/a.txt": "b"})
    fc_client.delete_layer_version("gone", "1")
    error = client_error(lambda: fc_client.get_layer_version("gone", "1"))
    assert (error.status_code, error.code) == (404, "LayerVersionNotFound")
    error = client_error(lambda: fc_client.get_layer_version_by_arn(one.layer_version_arn))
    assert error.code == "LayerVersionNotFound"
    fc_client.delete_layer_version("gone", "2")
    error = client_error(lambda: fc_client.list_layer_versions(
        "gone", fc.ListLayerVersionsRequest()))
    assert (error.status_code, error.code) == (404, "LayerNotFound")
    # a number is never given twice, even once every version is gone
    assert publish(fc_client, "gone", {"lib/a.txt": "c"}).version == 3


@pytest.mark.fc_verified
def test_bad_layer_input_is_a_400_naming_the_field(fc_client) -> None:
    body = fc.CreateLayerVersionInput(code=fc.InputCodeLocation(zip_file="not base64!"))
    error = client_error(lambda: fc_client.create_layer_version(
        "bad", fc.CreateLayerVersionRequest(body=body)))
    assert (error.status_code, error.code) == (400, "InvalidArgument")
    assert "zipFile" in error.message
    error = client_error(lambda: publish(fc_client, "bad name!", {"a": "b"}))
    assert error.code == "InvalidArgument" and "layerName" in error.message
    error = client_error(lambda: fc_client.get_layer_version_by_arn("acs:fc:nope"))
    assert error.code == "InvalidArgument" and "layers/<layerName>/versions/<n>" in error.message


# /opt, found from the layer's module (in a sandbox it is /opt itself)
PROBE = """\
import json, os
import shared

OPT = os.path.dirname(os.path.dirname(shared.__file__))

def handler(event, context):
    with open(os.path.join(OPT, "lib", "data.txt")) as f:
        data = f.read()
    return json.dumps({"who": shared.WHO, "data": data,
                       "extra": sorted(n for n in os.listdir(os.path.join(OPT, "python"))
                                       if n.endswith(".py"))})
"""


@pytest.mark.fc_verified
def test_a_functions_layers_are_merged_at_opt_the_first_listed_winning(fc_client) -> None:
    first = publish(fc_client, "first", {"python/shared.py": "WHO = 'first'\n",
                                         "lib/data.txt": "from first"},
                    compatible_runtime=["python3.10"])
    second = publish(fc_client, "second", {"python/shared.py": "WHO = 'second'\n",
                                           "python/only_second.py": "",
                                           "lib/data.txt": "from second"})
    function = create_function(fc_client, "uses-layers", PROBE,
                               layers=[first.layer_version_arn, second.layer_version_arn])
    assert [(x.arn, x.size) for x in function.layers] == [
        (first.layer_version_arn, first.code_size), (second.layer_version_arn, second.code_size)]
    assert json.loads(invoke(fc_client, "uses-layers")) == {
        "who": "first", "data": "from first", "extra": ["only_second.py", "shared.py"]}
    # a deleted version stays in the functions that use it
    fc_client.delete_layer_version("first", "1")
    assert json.loads(invoke(fc_client, "uses-layers"))["who"] == "first"
    # UpdateFunction with other layers: new instances see the new /opt
    body = fc.UpdateFunctionInput(layers=[second.layer_version_arn])
    fc_client.update_function("uses-layers", fc.UpdateFunctionRequest(body=body))
    assert json.loads(invoke(fc_client, "uses-layers"))["who"] == "second"


@pytest.mark.fc_verified
def test_a_missing_or_incompatible_layer_refuses_the_function(fc_client, fcemu) -> None:
    arn = f"acs:fc:{fcemu.region}:{fcemu.account_id}:layers/never/versions/1"
    error = client_error(lambda: create_function(fc_client, "f", "", layers=[arn]))
    assert (error.status_code, error.code) == (404, "LayerVersionNotFound")
    assert arn in error.message and "--layer" in error.message
    official = "acs:fc:cn-hangzhou:official:layers/Python310/versions/2"
    error = client_error(lambda: create_function(fc_client, "f", "", layers=[official]))
    assert error.code == "LayerVersionNotFound" and "cannot download" in error.message
    node_only = publish(fc_client, "node-only", {"nodejs/node_modules/x/index.js": ""},
                        compatible_runtime=["nodejs18"])
    error = client_error(lambda: create_function(
        fc_client, "f", "", layers=[node_only.layer_version_arn]))
    assert (error.status_code, error.code) == (400, "InvalidArgument")
    assert f"python3.10 is not supported by layer:{node_only.layer_version_arn}" in error.message
    listed = fc_client.list_functions(fc.ListFunctionsRequest()).body
    assert listed.functions == []
