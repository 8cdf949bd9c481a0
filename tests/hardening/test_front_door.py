"""Issue 9, point 1: no web page can drive the emulator.

A page on any site can make a "simple" cross-origin POST (``text/plain``, its own
``Origin``), and DNS rebinding lets it read the answers under its own name
(``Host: evil.example``). Both were enough to create a function running ``id`` and
invoke it. The front door (:mod:`fcemu.api.front_door`, policy in :mod:`fcemu.hosts`)
refuses them on every route with 403 ``AccessDenied``, in FC JSON or MNS XML, before
anything changes; SDKs (no ``Origin``, loopback ``Host``) and the emulator's own
origin are not affected. Requests go over real HTTP to the ``fcemu`` fixture's server.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

import fcemu
from fcemu import cli, config, hosts
from tests.hardening.state import FC, MNS_HEADERS, Http, Reply, differences, snapshot

pytestmark = pytest.mark.fcemu(clock="manual")

def code_running(command: str) -> str:
    """A ``code.zipFile`` whose handler runs ``command`` and returns its output."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "import subprocess\n"
                                     "def handler(event, context):\n"
                                     f"    return subprocess.run({command!r}, shell=True, "
                                     "capture_output=True).stdout\n")
    return base64.b64encode(buffer.getvalue()).decode()


#: The attack of the issue: what a page's ``fetch(url, {method: "POST", mode: "no-cors",
#: body})`` sends, with a text/plain body (no preflight).
CREATE = json.dumps({"functionName": "pwn", "runtime": "python3.10", "handler": "index.handler",
                     "code": {"zipFile": code_running("id")}}).encode()
SIMPLE = {"Content-Type": "text/plain;charset=UTF-8"}


@pytest.fixture
def http(fcemu: fcemu.Emulator) -> Any:
    client = Http("127.0.0.1", fcemu.port)
    yield client
    client.close()


def host_of(emu: fcemu.Emulator) -> str:
    return f"127.0.0.1:{emu.port}"


def assert_refused(reply: Reply, *, mns: bool = False) -> str:
    """A 403 AccessDenied in the route's format; returns its message."""
    assert reply.status == 403, reply
    if mns:
        assert reply.headers["content-type"].startswith("text/xml"), reply
        assert b"<Code>AccessDenied</Code>" in reply.body, reply
        assert reply.headers["x-mns-request-id"], reply
        return reply.body.decode()
    body = reply.json()
    assert set(body) == {"Code", "Message", "RequestId"}, body
    assert body["Code"] == "AccessDenied" and body["RequestId"] == reply.headers[
        "x-fc-request-id"], body
    return str(body["Message"])


# -- Host: DNS rebinding ---------------------------------------------------------------------

#: (Host header, answered?): what each name means is in fcemu.hosts.
HOSTS = [
    ("127.0.0.1:{port}", True),
    ("127.9.8.7:{port}", True),  # all of 127.0.0.0/8 is loopback
    ("localhost:{port}", True),
    ("LOCALHOST.:{port}", True),
    ("app.localhost:{port}", True),  # browsers resolve *.localhost to loopback themselves
    ("[::1]:{port}", True),
    ("http://127.0.0.1:{port}", True),  # the FC SDK sends an endpoint given with its scheme
    ("fcv3.cn-hangzhou.aliyuncs.com", True),  # mock mode forwards the real endpoint names
    ("1234567890123456.mns.cn-hangzhou.aliyuncs.com", True),
    ("evil.example:{port}", False),  # DNS rebinding: the page's own name
    ("evil.example", False),
    ("127.0.0.1.nip.io:{port}", False),  # a public name that resolves to loopback
    ("localhost.evil.example:{port}", False),
    ("0.0.0.0:{port}", False),
    ("192.168.1.20:{port}", False),
    ("", False),
]


@pytest.mark.parametrize(("host", "answered"), HOSTS, ids=[h or "empty" for h, _ in HOSTS])
def test_only_loopback_and_configured_hosts_are_answered(fcemu: fcemu.Emulator, http: Http,
                                                         host: str, answered: bool) -> None:
    header = {"Host": host.format(port=fcemu.port)}
    fc = http.request("GET", f"{FC}/functions", header)
    control = http.request("GET", "/_fcemu/clock", header)
    mns = http.request("GET", "/queues", MNS_HEADERS | header)
    if answered:
        assert (fc.status, control.status, mns.status) == (200, 200, 200), (fc, control, mns)
    else:
        assert "--allow-host" in assert_refused(fc)
        assert_refused(control)
        assert_refused(mns, mns=True)


def test_dns_rebinding_can_neither_change_nor_read_anything(fcemu: fcemu.Emulator,
                                                            http: Http) -> None:
    """After rebinding, the page's requests are same-origin to the browser: no ``Origin``
    check helps, only ``Host`` tells them apart."""
    fcemu.register_function("mine", lambda event, context: b"secret")
    before = snapshot(http)
    rebound = {"Host": f"evil.example:{fcemu.port}"}
    assert_refused(http.request("POST", f"{FC}/functions", rebound | SIMPLE, CREATE))
    assert_refused(http.request("POST", f"{FC}/functions/mine/invocations", rebound, b"{}"))
    assert_refused(http.request("GET", f"{FC}/functions/mine", rebound))
    assert_refused(http.request("POST", "/_fcemu/reset", rebound))
    assert differences(before, snapshot(http)) == []


# -- Origin and Sec-Fetch-Site: cross-site requests ------------------------------------------

#: (Origin, Sec-Fetch-Site, answered?) with no --allow-origin; {own} is the emulator's origin.
ORIGINS = [
    (None, None, True),  # SDKs, curl, the CLI
    ("{own}", None, True),  # a page fcemu serves itself
    ("{own}", "same-origin", True),
    ("http://localhost:{port}", None, False),  # same host, another name: another origin
    (None, "same-origin", True),
    (None, "none", True),  # typed in the address bar
    (None, "same-site", True),  # e.g. a navigation from another local port
    (None, "cross-site", False),  # an <img>/<form> of another site (no Origin on GET)
    ("http://evil.example", None, False),
    ("http://evil.example", "cross-site", False),
    ("null", "cross-site", False),  # sandboxed iframes and file:// pages
    ("http://localhost:3000", "same-site", False),  # a dev server on another port
    ("{own}", "cross-site", False),  # a forged Origin cannot hide a cross-site fetch
]


@pytest.mark.parametrize(("origin", "site", "answered"), ORIGINS)
def test_foreign_origins_and_cross_site_requests_are_refused(
        fcemu: fcemu.Emulator, http: Http, origin: str | None, site: str | None,
        answered: bool) -> None:
    own = f"http://127.0.0.1:{fcemu.port}"
    headers = {"Host": host_of(fcemu)}
    if origin is not None:
        headers["Origin"] = origin.format(own=own, port=fcemu.port)
    if site is not None:
        headers["Sec-Fetch-Site"] = site
    before = snapshot(http)
    create = http.request("POST", f"{FC}/functions", headers | SIMPLE, CREATE)
    queue = http.request("PUT", "/queues/from-a-page", MNS_HEADERS | headers,
                         b"<Queue xmlns='http://mns.aliyuncs.com/doc/v1/'/>")
    if answered:
        assert (create.status, queue.status) == (200, 201), (create, queue)
        assert "Access-Control-Allow-Origin".lower() not in create.headers  # no CORS needed
    else:
        assert "--allow-origin" in assert_refused(create)
        assert_refused(queue, mns=True)
        assert differences(before, snapshot(http)) == []


def test_the_attack_of_the_issue_runs_nothing(fcemu: fcemu.Emulator, http: Http) -> None:
    """A page's simple POSTs: create a function running ``id``, then invoke it."""
    page = {"Host": host_of(fcemu), "Origin": "http://evil.example",
            "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}
    assert_refused(http.request("POST", f"{FC}/functions", page | SIMPLE, CREATE))
    invoke = http.request("POST", f"{FC}/functions/pwn/invocations", page | SIMPLE, b"{}")
    assert_refused(invoke)
    assert fcemu.instances() == []
    assert http.request("GET", f"{FC}/functions/pwn").status == 404


# -- what the user allows ---------------------------------------------------------------------


@pytest.mark.fcemu(allow_hosts=("fcemu.internal", "Emu.Test"))
def test_allow_host_names_more_hosts(fcemu: fcemu.Emulator, http: Http) -> None:
    for name in ("fcemu.internal", f"emu.test:{fcemu.port}", "EMU.TEST"):
        assert http.request("GET", f"{FC}/functions", {"Host": name}).status == 200, name
    assert_refused(http.request("GET", f"{FC}/functions", {"Host": "other.internal"}))


@pytest.mark.fcemu(allow_hosts=("*",))
def test_allow_host_star_answers_any_host(fcemu: fcemu.Emulator, http: Http) -> None:
    assert http.request("GET", f"{FC}/functions", {"Host": "evil.example"}).status == 200


@pytest.mark.fcemu(allow_origins=("http://localhost:3000",))
def test_an_allowed_origin_gets_cors(fcemu: fcemu.Emulator, http: Http) -> None:
    page = {"Host": host_of(fcemu), "Origin": "http://localhost:3000",
            "Sec-Fetch-Site": "cross-site"}
    preflight = http.request("OPTIONS", f"{FC}/functions", page | {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-fc-invocation-type"})
    assert preflight.status == 204, preflight
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert preflight.headers["access-control-allow-methods"] == "POST"
    assert preflight.headers["access-control-allow-headers"] == \
        "content-type,x-fc-invocation-type"
    listed = http.request("GET", f"{FC}/functions", page)
    assert listed.status == 200, listed
    assert listed.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "origin" in listed.headers["vary"].lower()
    refused = http.request("OPTIONS", f"{FC}/functions", page | {
        "Origin": "http://localhost:4000", "Access-Control-Request-Method": "POST"})
    assert_refused(refused)


def test_sdk_clients_are_not_affected(fcemu: fcemu.Emulator, fc_client: Any,
                                      mns_account: Any) -> None:
    from alibabacloud_fc20230330 import models
    from mns.queue import QueueMeta

    fcemu.register_function("job", lambda event, context: event)
    listed = fc_client.list_functions(models.ListFunctionsRequest()).body.functions
    assert [f.function_name for f in listed] == ["job"]
    queue = mns_account.get_queue("sdk")
    queue.create(QueueMeta())
    assert queue.get_attributes().queue_name == "sdk"


# -- the policy and its configuration --------------------------------------------------------


@pytest.mark.parametrize(("value", "name"), [
    ("127.0.0.1:9000", "127.0.0.1"), ("[::1]:9000", "::1"), ("::1", "::1"),
    ("http://LocalHost:9000/", "localhost"), ("example.com.", "example.com"),
    ("[::1", None), (":9000", None),
])
def test_host_names_are_read_like_a_browser_sends_them(value: str, name: str | None) -> None:
    assert hosts.host_name(value) == name


def test_the_listening_host_is_answered_unless_it_is_a_wildcard() -> None:
    assert hosts.host_allowed("10.1.2.3:9000", "10.1.2.3", ())
    assert not hosts.host_allowed("10.1.2.3:9000", "0.0.0.0", ())
    assert not hosts.host_allowed("0.0.0.0:9000", "0.0.0.0", ())
    assert hosts.host_allowed(None, "127.0.0.1", ())  # HTTP/1.0: no Host, not a browser


def test_a_kept_answer_is_per_host_listen_address_and_allow_list() -> None:
    """host_allowed keeps its answers (one per request otherwise), keyed by all three."""
    for _ in range(2):
        assert not hosts.host_allowed("dev.example:9000", "127.0.0.1", ())
        assert hosts.host_allowed("dev.example:9000", "127.0.0.1", ["DEV.example"])
        assert hosts.host_allowed("dev.example:9000", "dev.example", ())
        assert not hosts.host_allowed("dev.example:9000", "127.0.0.1", ("other.example",))


def test_serve_options_and_fcemu_yaml_set_them(tmp_path: Path) -> None:
    args = cli.build_parser().parse_args([
        "serve", "--allow-host", "Box.Local", "--allow-host", "emu",
        "--allow-origin", "http://LOCALHOST:3000/"])
    settings = cli.settings_from(args)
    assert settings.allow_hosts == ("box.local", "emu")
    assert settings.allow_origins == ("http://localhost:3000",)
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["serve", "--allow-origin", "localhost:3000/path"])
    yaml = tmp_path / "fcemu.yaml"
    yaml.write_text("version: 1\nsettings:\n  allowHosts: [emu.test]\n"
                    "  allowOrigins: ['http://localhost:5173']\n")
    loaded = config.load_settings([yaml], fcemu.Settings())
    assert (loaded.allow_hosts, loaded.allow_origins) == (("emu.test",),
                                                          ("http://localhost:5173",))
    yaml.write_text("version: 1\nsettings:\n  allowOrigins: ['not an origin']\n")
    with pytest.raises(config.ConfigError, match="allowOrigins"):
        config.load_settings([yaml], fcemu.Settings())
