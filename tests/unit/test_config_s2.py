"""Serverless Devs 2.x files converted on load (fcemu.config.s2), field by field, as
``s cli fc3 s2tos3`` converts them (devsapp/fc3 src/subCommands/2to3/index.ts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fcemu.config import load
from fcemu.config.marked import load_yaml
from fcemu.config.s2 import convert, is_s2
from fcemu.errors import InvalidArgument
from fcemu.settings import Settings
from fcemu.specs import FunctionSpec, check_function_name

HEAD = """edition: 1.0.0
name: app
services:
  r:
    component: {component}
    props:
      region: cn-hangzhou
      service:
        name: svc
        description: dropped
        role: acs:ram::1:role/x
      function:
        name: fn
        runtime: {runtime}
        codeUri: ./code
        handler: index.handler
"""


def converted(tmp_path: Path, extra: str = "", *, component: str = "fc",
              runtime: str = "python3.9") -> tuple[dict[str, Any], list[str], list[str]]:
    (tmp_path / "code").mkdir(exist_ok=True)
    path = tmp_path / "s.yaml"
    path.write_text(HEAD.format(component=component, runtime=runtime) + extra)
    doc, conversion = convert(load_yaml(path))
    props = doc["resources"]["r"]["props"]
    return props, conversion.converted, conversion.dropped


@pytest.mark.parametrize("component", ["fc", "devsapp/fc", "fc@0.1.2", "devsapp/fc@dev"])
def test_fc_components_become_fc3(tmp_path: Path, component: str) -> None:
    (tmp_path / "code").mkdir()
    path = tmp_path / "s.yaml"
    path.write_text(HEAD.format(component=component, runtime="python3.9"))
    doc, _ = convert(load_yaml(path))
    assert doc["edition"] == "3.0.0" and "services" not in doc
    assert doc["resources"]["r"]["component"] == "fc3"


def test_other_components_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    path = tmp_path / "s.yaml"
    path.write_text(HEAD.format(component="fc", runtime="python3.9")
                    + "  domain:\n    component: fc-domain\n    props: {domainName: auto}\n")
    doc, _ = convert(load_yaml(path))
    assert doc["resources"]["domain"]["component"] == "fc-domain"


def test_service_and_function_merge_into_one_fc3_function(tmp_path: Path) -> None:
    props, notes, _ = converted(tmp_path)
    assert props["functionName"] == "svc$fn"
    assert props["code"] == "./code" and "codeUri" not in props
    assert props["role"] == "acs:ram::1:role/x"  # service-level fields move to the function
    assert "description" not in props and "name" not in props  # the service's are dropped
    assert any("functionName svc$fn" in line for line in notes)


def test_service_given_as_a_vars_reference(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    path = tmp_path / "s.yaml"
    path.write_text(HEAD.replace("      service:\n        name: svc\n        description: "
                                 "dropped\n        role: acs:ram::1:role/x\n",
                                 "      service: ${{vars.svc}}\n").format(
        component="fc", runtime="python3.9") + "vars:\n  svc:\n    name: shared\n")
    doc, _ = convert(load_yaml(path))
    assert doc["resources"]["r"]["props"]["functionName"] == "shared$fn"


def test_async_configuration_and_fc_destination_arns(tmp_path: Path) -> None:
    props, notes, _ = converted(tmp_path, """        asyncConfiguration:
          destination:
            onSuccess: acs:fc:::services/svc.prod/functions/next
            onFailure: acs:mns:cn-hangzhou:1:/queues/q/messages
          maxAsyncRetryAttempts: 0
          statefulInvocation: true
""")
    config = props["asyncInvokeConfig"]
    assert "asyncConfiguration" not in props and "destination" not in config
    assert config["statefulInvocation"] is True and config["maxAsyncRetryAttempts"] == 0
    assert config["destinationConfig"] == {
        "onSuccess": {"destination": "acs:fc:${this.props.region}::functions/svc$next/prod"},
        "onFailure": {"destination": "acs:mns:cn-hangzhou:1:/queues/q/messages"}}
    assert any("s2tos3 writes functions/next" in line for line in notes)


def test_custom_runtime_port_health_check_and_lifecycle(tmp_path: Path) -> None:
    props, _, dropped = converted(tmp_path, """        caPort: 8080
        customHealthCheckConfig: {httpGetUrl: /ready}
        customRuntimeConfig:
          command: [python3, app.py]
        initializer: index.init
        initializationTimeout: 7
        instanceLifecycleConfig:
          preFreeze: {handler: index.freeze}
          preStop: {handler: index.stop, timeout: 3}
        instanceType: e1
""", runtime="custom")
    assert props["customRuntimeConfig"] == {"command": ["python3", "app.py"], "port": 8080,
                                            "healthCheckConfig": {"httpGetUrl": "/ready"}}
    assert props["instanceLifecycleConfig"] == {
        "initializer": {"handler": "index.init", "timeout": 7},
        "preStop": {"handler": "index.stop", "timeout": 3}}
    assert "caPort" not in props and "instanceType" not in props
    assert any("preFreeze" in line for line in dropped)


def test_ca_port_without_custom_runtime_config(tmp_path: Path) -> None:
    props, _, _ = converted(tmp_path, "        caPort: 9001\n", runtime="custom.debian10")
    assert props["customRuntimeConfig"] == {"port": 9001}


def test_custom_container_command_and_args(tmp_path: Path) -> None:
    props, _, _ = converted(tmp_path, """        customContainerConfig:
          image: registry/app:1
          command: '["python"]'
          args: '["app.py"]'
          instanceID: cri-x
""", runtime="custom-container")
    assert props["customContainerConfig"] == {"image": "registry/app:1",
                                              "entrypoint": '["python"]',
                                              "command": '["app.py"]'}


def test_triggers_nas_oss_and_domains(tmp_path: Path) -> None:
    props, _, dropped = converted(tmp_path, """      triggers:
        - name: every-hour
          type: timer
          role: acs:ram::1:role/t
          config: {cronExpression: '@every 1h', enable: true}
      customDomains:
        - domainName: auto
          routeConfigs: [{path: /*}]
""".replace("      triggers", "        ossBucket: b\n        ossKey: k.zip\n        nasConfig:\n"
            "          userId: 1\n          groupId: 1\n          mountPoints:\n"
            "            - {serverAddr: nas.example, nasDir: /data, fcDir: /mnt/data}\n"
            "      triggers"))
    assert props["triggers"] == [{"triggerName": "every-hour", "triggerType": "timer",
                                  "invocationRole": "acs:ram::1:role/t",
                                  "triggerConfig": {"cronExpression": "@every 1h",
                                                    "enable": True}}]
    assert props["nasConfig"]["mountPoints"] == [{"serverAddr": "nas.example:/data",
                                                 "mountDir": "/mnt/data"}]
    assert "ossBucket" not in props and "customDomains" not in props
    assert any("code in OSS" in line for line in dropped)
    assert any("customDomains" in line for line in dropped)


def test_is_s2() -> None:
    assert is_s2({"edition": "1.0.0", "services": {}})
    assert not is_s2({"edition": "3.0.0", "resources": {}})


def test_a_converted_file_loads_with_line_numbers_kept(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    path = tmp_path / "s.yaml"
    path.write_text(HEAD.format(component="fc", runtime="python3.9")
                    + "        timeout: 0\n")
    with pytest.raises(ValueError) as caught:
        load([path], Settings())
    assert "s.yaml:17" in str(caught.value) and "between 1 and 86400" in str(caught.value)


def test_migrated_names_come_only_from_conversion() -> None:
    """FC 3.0 creates no new service$function names; deployment files converted from 2.x
    (and the Python API) may deploy them, CreateFunction over the wire may not."""
    assert check_function_name("svc$fn") == "svc$fn"
    assert FunctionSpec.of(functionName="svc$fn", runtime="python3.9",
                           handler="index.handler").name == "svc$fn"
    with pytest.raises(InvalidArgument):
        check_function_name("svc$fn", migrated=False)
    for bad in ("$fn", "svc$", "a$b$c", "1svc$fn"):
        with pytest.raises(InvalidArgument):
            check_function_name(bad)
