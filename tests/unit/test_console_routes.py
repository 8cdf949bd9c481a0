"""The control routes the web console uses (fcemu.api.console), over real HTTP without a
browser: the event stream, the console page itself, queue send and purge, task detail."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from importlib import resources
from typing import Any

import fcemu
from fcemu.web import ASSETS


def _call(emu: fcemu.Emulator, method: str, path: str, body: Any = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(emu.endpoint + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_the_event_stream_sends_each_status_change_live() -> None:
    with fcemu.Emulator(clock="manual", seed=7) as emu:
        emu.register_function("job", lambda event, context: b"ok")
        request = urllib.request.Request(emu.endpoint + "/_fcemu/events",
                                         headers={"Accept": "text/event-stream"})
        with urllib.request.urlopen(request, timeout=10) as stream:
            assert stream.headers["Content-Type"] == "text/event-stream"
            assert stream.readline() == b": fcemu events\n"
            stream.readline()
            emu.invoke("job", b"1", asynchronous=True, task_id="t-1")
            seen = []
            for _ in range(4):  # Enqueued, Processed, Running, Succeeded; readline is bounded
                assert stream.readline() == b"event: task\n"
                seen.append(json.loads(stream.readline().removeprefix(b"data: ")))
                assert stream.readline() == b"\n"
            assert [e["status"] for e in seen] == ["Enqueued", "Processed", "Running",
                                                   "Succeeded"]
            assert {(e["functionName"], e["taskId"], e["qualifier"]) for e in seen} == {
                ("job", "t-1", "LATEST")}
            emu.reset()
            assert stream.readline() == b"event: reset\n"


def test_the_event_stream_needs_its_accept_header() -> None:
    with fcemu.Emulator(clock="manual") as emu:
        status, _, body = _call(emu, "GET", "/_fcemu/events")
        assert status == 406
        doc = json.loads(body)
        assert doc["Code"] == "NotAcceptable" and "text/event-stream" in doc["Message"]


def test_the_console_is_served_at_the_root_and_under_ui() -> None:
    with fcemu.Emulator(clock="manual") as emu:
        for path in ("/", "/_fcemu/ui/"):
            status, headers, body = _call(emu, "GET", path)
            assert status == 200 and headers["Content-Type"].startswith("text/html")
            assert b'<script type="module" src="/_fcemu/ui/app.js">' in body
            assert "default-src 'self'" in headers["Content-Security-Policy"]
            assert headers["X-Frame-Options"] == "DENY"
        status, headers, body = _call(emu, "GET", "/_fcemu/ui/app.js")
        assert status == 200 and headers["Content-Type"].startswith("text/javascript")
        status, _, body = _call(emu, "GET", "/_fcemu/ui/secrets.txt")  # only its own files
        assert status == 400 and json.loads(body)["Code"] == "PathNotSupported"
        status, _, body = _call(emu, "GET", "/_fcemu/ui")  # followed to /_fcemu/ui/
        assert status == 200 and b"fcemu console" in body


_PAGE_SCRIPT = re.compile(r'<script type="module" src="/_fcemu/ui/([^"]+)">')
_IMPORTS = [  # static imports (one line or several), re-exports, dynamic imports
    re.compile(r"""^\s*import\b\s*(?:[\w$*{}\s,]+?\s*from\s*)?["']([^"']+)["']""", re.M),
    re.compile(r"""^\s*export\b\s*[\w$*{}\s,]+?\s*from\s*["']([^"']+)["']""", re.M),
    re.compile(r"""\bimport\(\s*["']([^"']+)["']"""),
]


def test_every_module_the_page_imports_is_listed_and_served() -> None:
    """Follows the imports from the page's script: each module is in ASSETS (an allow-list)
    and served as JavaScript, so a split of the console cannot ship a module that 404s;
    and every script listed or shipped is one the page reaches."""
    with fcemu.Emulator(clock="manual") as emu:
        _, _, page = _call(emu, "GET", "/_fcemu/ui/")
        todo = _PAGE_SCRIPT.findall(page.decode())
        assert todo == ["app.js"]
        reached: set[str] = set()
        while todo:
            name = todo.pop()
            if name in reached:
                continue
            reached.add(name)
            assert ASSETS.get(name) == "text/javascript", f"{name} is not in ASSETS"
            status, headers, body = _call(emu, "GET", "/_fcemu/ui/" + name)
            assert status == 200, name
            assert headers["Content-Type"].startswith("text/javascript"), name
            for pattern in _IMPORTS:
                for spec in pattern.findall(body.decode()):
                    # served flat under one prefix: only ./<file>.js resolves to an asset
                    assert re.fullmatch(r"\./[\w.-]+\.js", spec), f"{name} imports {spec}"
                    todo.append(spec.removeprefix("./"))
    listed = {name for name, kind in ASSETS.items() if kind == "text/javascript"}
    static = resources.files("fcemu.web").joinpath("static")
    shipped = {f.name for f in static.iterdir() if f.name.endswith(".js")}
    assert len(reached) > 1 and reached == listed == shipped


def test_queue_send_purge_and_errors_in_fc_format() -> None:
    with fcemu.Emulator(clock="manual", seed=7) as emu:
        status, _, body = _call(emu, "POST", "/_fcemu/queues/nope/messages", {"body": "x"})
        assert status == 404 and json.loads(body)["Code"] == "QueueNotExist"
        emu.call(_make_queue)
        status, _, body = _call(emu, "POST", "/_fcemu/queues/q/messages", {"body": 3})
        assert status == 400 and "body must be a string" in json.loads(body)["Message"]
        status, _, body = _call(emu, "POST", "/_fcemu/queues/q/messages",
                                {"body": '{"a": 1}', "delaySeconds": 5})
        assert status == 201
        status, _, body = _call(emu, "GET", "/_fcemu/smq")
        assert json.loads(body)["queues"] == [
            {"name": "q", "active": 0, "inactive": 0, "delayed": 1, "total": 1}]
        status, _, _ = _call(emu, "DELETE", "/_fcemu/queues/q/messages")
        assert status == 204 and emu.queue("q").messages() == []


async def _make_queue(engine: Any) -> None:
    engine.create_queue("q")


def test_task_detail_has_attempts_and_the_delivered_message() -> None:
    with fcemu.Emulator(clock="manual", seed=7) as emu:
        emu.register_function("job", lambda event, context: b"ok:" + event)
        emu.put_async_invoke_config("job", on_success="done")  # task mode off: still shown
        emu.invoke("job", b"1", asynchronous=True, task_id="t-1")
        emu.drain()
        status, _, body = _call(emu, "GET", "/_fcemu/functions/job/async-tasks/t-1")
        assert status == 200
        doc = json.loads(body)
        assert doc["status"] == "Succeeded" and doc["stoppable"] is False
        [attempt] = doc["attempts"]
        assert attempt["outcome"] == "ok" and attempt["attempt"] == 1
        assert attempt["maxMemoryMB"] > 0  # in-process: the emulator's own peak
        destination = doc["destination"]
        assert (destination["kind"], destination["name"]) == ("queue", "done")
        assert json.loads(destination["message"]["body"])["responsePayload"] == "ok:1"
        status, _, body = _call(emu, "GET", "/_fcemu/functions/job/async-tasks/nope")
        assert status == 404 and json.loads(body)["Code"] == "AsyncTaskNotFound"


def test_topic_publish_reaches_its_subscribed_queue_and_is_listed() -> None:
    with fcemu.Emulator(clock="manual", seed=7) as emu:
        emu.call(_make_topic)
        status, _, body = _call(emu, "POST", "/_fcemu/topics/t/messages",
                                {"body": "hello", "tag": "a"})
        assert status == 201 and json.loads(body)["messageId"]
        status, _, body = _call(emu, "POST", "/_fcemu/topics/none/messages", {"body": "x"})
        assert status == 404 and json.loads(body)["Code"] == "TopicNotExist"
        status, _, body = _call(emu, "GET", "/_fcemu/smq")
        [topic] = json.loads(body)["topics"]
        assert topic["name"] == "t" and topic["messages"] == 1
        assert [(s["name"], s["queue"]) for s in topic["subscriptions"]] == [("s", "q")]
        assert len(emu.queue("q").messages()) == 1


async def _make_topic(engine: Any) -> None:
    engine.create_queue("q")
    engine.create_topic("t")
    engine.subscribe("t", "s", "q")
