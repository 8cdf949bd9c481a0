"""The web console (fcemu.web) in headless Chromium: live tasks, a task's timeline, Stop,
queues, metrics charts, and the same-origin rule. See conftest.py for the browser."""

from __future__ import annotations

import io
import json
import threading
from typing import Any

from alibabacloud_fc20230330 import models as fc
from alibabacloud_fc20230330.client import Client
from alibabacloud_tea_openapi.models import Config
from darabonba.runtime import RuntimeOptions

import fcemu
from fcemu.engine import Engine
from tests.web.conftest import Shoot, open_console


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _client(emu: fcemu.Emulator, key: str = "any", secret: str = "any") -> Client:
    return Client(Config(access_key_id=key, access_key_secret=secret,
                         endpoint=emu.host_port, protocol="http"))


def _invoke_async(client: Client, name: str, payload: bytes, task_id: str | None = None,
                  delay: int | None = None) -> str:
    common = {"x-fc-async-delay": str(delay)} if delay is not None else None
    headers = fc.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id=task_id,
                                       common_headers=common)
    response = client.invoke_function_with_options(
        name, fc.InvokeFunctionRequest(body=io.BytesIO(payload)), headers, RuntimeOptions())
    return str(response.headers["x-fc-async-task-id"])


def _deploy(emu: fcemu.Emulator, name: str = "job", handler: Any = None, **config: Any) -> None:
    emu.register_function(name, handler or (lambda event, context: b"ok:" + event))
    emu.put_async_invoke_config(name, asyncTask=True, **config)


def test_an_async_invoke_through_the_sdk_appears_live_in_the_task_table(
        page: Any, emu: fcemu.Emulator, shoot: Shoot) -> None:
    expect = _expect()
    _deploy(emu, on_success="done")
    open_console(page, emu, "tasks")
    expect(page.locator("#tasks tbody")).to_contain_text("No task matches")
    task_id = _invoke_async(_client(emu), "job", b'{"n": 1}', task_id="order-1",
                            delay=30)
    row = page.locator('#tasks tr[data-task="order-1"]')
    expect(row).to_be_visible()  # no reload: the event stream brought it
    assert task_id == "order-1"
    expect(row.locator(".badge")).to_have_text("Enqueued")
    emu.drain()
    expect(row).to_have_attribute("data-status", "Succeeded")
    expect(row.locator("td[data-label=Destination] .badge")).to_have_text("Succeeded")
    _invoke_async(_client(emu), "job", b"2", task_id="order-2")
    emu.settle()
    page.locator("#task-filters select[name=status]").select_option("Succeeded")
    expect(page.locator("#tasks tbody tr")).to_have_count(2)
    page.locator("#task-filters input[name=prefix]").fill("order-2")
    expect(page.locator("#tasks tbody tr")).to_have_count(1)
    page.locator("#task-filters button[type=reset]").click()
    expect(page.locator("#tasks tbody tr")).to_have_count(2)
    # more of a task's life for the picture: a failure, a task waiting for its delay
    emu.register_function("report", _fails)
    emu.put_async_invoke_config("report", maxAsyncRetryAttempts=0, on_failure="dlq")
    client = _client(emu)
    _invoke_async(client, "report", b"{}", task_id="report-1")
    _invoke_async(client, "job", b"3", task_id="order-3", delay=600)
    emu.settle()
    expect(page.locator("#tasks tbody tr")).to_have_count(4)
    expect(page.locator('#tasks tr[data-task="report-1"] .badge').first).to_have_text("Failed")
    expect(page.locator('#tasks tr[data-task="order-3"] .badge')).to_have_text("Enqueued")
    shoot(page, "tasks", readme=True)


def _fails(event: bytes, context: object) -> bytes:
    raise ValueError("no report today")


def test_the_task_page_shows_the_timeline_after_an_advance_pressed_in_the_page(
        page: Any, emu: fcemu.Emulator, shoot: Shoot) -> None:
    expect = _expect()
    calls = iter([RuntimeError("first attempt fails"), None])

    def flaky(event: bytes, context: object) -> bytes:
        error = next(calls)
        if error is not None:
            raise error
        return b'{"done": true}'

    _deploy(emu, handler=flaky, on_success="done", maxAsyncRetryAttempts=2)
    _invoke_async(_client(emu), "job", b'{"order": 42}', task_id="t-1",
                  delay=1)
    open_console(page, emu, "task/job/t-1")
    events = page.locator("#events tbody tr")
    expect(events).to_have_count(1)
    expect(page.locator("h1 .badge")).to_have_text("Enqueued")
    page.get_by_role("button", name="+1 min").click()  # the clock bar's manual advance
    expect(page.locator("h1 .badge")).to_have_text("Succeeded")
    expect(events).to_have_count(6)  # Enqueued Processed Running Retrying Running Succeeded
    assert [events.nth(i).get_attribute("data-status") for i in range(6)] == [
        "Enqueued", "Processed", "Running", "Retrying", "Running", "Succeeded"]
    timeline = page.locator("#timeline svg")
    expect(timeline).to_contain_text("Retrying")
    expect(timeline).to_contain_text("Succeeded")
    expect(page.locator("#attempts tbody tr")).to_have_count(2)
    expect(page.locator("#attempts td[data-label='Peak memory']").first).to_contain_text(" MB")
    expect(page.locator("#payload")).to_contain_text('"order": 42')
    expect(page.locator("#result")).to_contain_text('"done": true')
    destination = page.locator("#destination")
    expect(destination).to_contain_text("responsePayload")
    expect(destination.get_by_role("link", name="open queue done")).to_be_visible()
    assert page.locator("#stop").count() == 0  # a terminal task cannot be stopped
    shoot(page, "task", readme=True)


def test_stop_on_a_running_task_ends_it_stopped(page: Any, emu: fcemu.Emulator,
                                                shoot: Shoot) -> None:
    expect = _expect()
    release = threading.Event()

    def blocks(event: bytes, context: object) -> bytes:
        release.wait(30)  # a handler may block; the test waits on the page, bounded
        return b"late"

    _deploy(emu, handler=blocks, on_failure="dlq")
    try:
        _invoke_async(_client(emu), "job", b"{}", task_id="long-1")
        open_console(page, emu, "task/job/long-1")
        expect(page.locator("h1 .badge")).to_have_text("Running")
        page.get_by_role("button", name="Stop").click()
        expect(page.locator("h1 .badge")).to_have_text("Stopped")
        expect(page.locator("#stop")).to_have_count(0)
        assert emu.task("job", "long-1")["status"] == "Stopped"
        shoot(page, "task-stopped")
    finally:
        release.set()


def test_a_destination_message_is_visible_under_its_queue(page: Any, emu: fcemu.Emulator,
                                                         shoot: Shoot) -> None:
    expect = _expect()
    _deploy(emu, on_success="done")
    _invoke_async(_client(emu), "job", b'{"item": "a"}', task_id="q-1")
    emu.drain()
    open_console(page, emu, "queues")
    row = page.locator('#queues tr[data-queue="done"]')
    expect(row.locator("td[data-label=Total]")).to_have_text("1")
    shoot(page, "queues", readme=True)
    row.get_by_role("link", name="done").click()
    message = page.locator("#messages .msg")
    expect(message).to_have_count(1)
    expect(message).to_contain_text('"responsePayload": "ok:{\\"item\\": \\"a\\"}"')
    expect(message).to_contain_text("dequeue count 0")
    page.locator("#send textarea[name=body]").fill('{"hand": "made"}')
    page.get_by_role("button", name="Send").click()
    expect(message).to_have_count(2)
    assert [m.json() for m in emu.queue("done").messages()][1] == {"hand": "made"}
    shoot(page, "queue")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Purge").click()
    expect(page.locator("#messages")).to_contain_text("No message.")
    assert emu.queue("done").messages() == []


def test_the_metrics_chart_shows_the_runs_numbers(page: Any, emu: fcemu.Emulator,
                                                  shoot: Shoot) -> None:
    expect = _expect()

    def handler(event: bytes, context: object) -> bytes:
        if event == b"bad":
            raise ValueError("bad input")
        return b"ok"

    _deploy(emu, handler=handler, maxAsyncRetryAttempts=0)
    client = _client(emu)
    for n, payload in enumerate((b"1", b"2", b"bad", b"3", b"4", b"bad", b"5")):
        _invoke_async(client, "job", payload, delay=n * 10)  # latencies 0, 10 ... 60 s
        emu.clock.advance(45)  # the run spreads over several minutes of emulator time
    emu.drain()
    numbers = emu.metrics()
    [row] = numbers["functions"]
    assert row["byStatus"]["Succeeded"] == 5 and row["byStatus"]["Failed"] == 2
    assert row["latencyMs"]["start"]["p99"] == 60_000
    open_console(page, emu, "metrics")
    status = page.locator("#chart-status")
    expect(status.locator('li[data-series="Succeeded"]')).to_contain_text("Succeeded: 5")
    expect(status.locator('li[data-series="Failed"]')).to_contain_text("Failed: 2")
    expect(status.locator("svg.chart rect")).to_have_count(sum(
        1 for p in numbers["series"] for s in ("Succeeded", "Failed") if p["byStatus"][s]))
    expect(page.locator('#chart-enqueued li[data-series="enqueued"]')).to_contain_text(
        "enqueued: 7")
    table = page.locator("#metrics-table tbody tr").first
    expect(table.locator("td[data-label=Enqueued]")).to_have_text("7")
    expect(table.locator("td[data-label=Failed]")).to_have_text("2")
    expect(table.locator("td[data-label='Start p50 / p99']")).to_have_text("30 s / 1 min")
    shoot(page, "metrics", readme=True)


def test_a_foreign_origin_cannot_use_the_consoles_endpoints(page: Any,
                                                            emu: fcemu.Emulator) -> None:
    _deploy(emu)
    emu.invoke("job", b"1", asynchronous=True, task_id="keep-me")
    emu.call(_make_queue)
    foreign = "http://foreign.example/"
    # the foreign page is served by the browser's own routing: no traffic leaves 127.0.0.1
    page.route(foreign, lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><title>foreign</title>"))
    page.goto(foreign)
    results = page.evaluate("""async (base) => {
        const out = {};
        for (const [name, method, path] of [["tasks", "GET", "/_fcemu/tasks"],
                ["metrics", "GET", "/_fcemu/metrics?format=json"],
                ["events", "GET", "/_fcemu/events"], ["reset", "POST", "/_fcemu/reset"],
                ["page", "GET", "/"]]) {
            try { const r = await fetch(base + path, {method}); out[name] = r.status; }
            catch (e) { out[name] = "blocked"; }
        }
        // no-cors: the request is sent, the answer opaque; the server must still refuse it
        await fetch(base + "/_fcemu/reset", {method: "POST", mode: "no-cors"}).catch(() => 0);
        await fetch(base + "/_fcemu/queues/q/messages", {method: "POST", mode: "no-cors",
            headers: {"content-type": "text/plain"}, body: JSON.stringify({body: "x"})})
            .catch(() => 0);
        return out;
    }""", emu.endpoint)
    assert results == {name: "blocked" for name in ("tasks", "metrics", "events", "reset",
                                                    "page")}
    assert emu.task("job", "keep-me")["status"] == "Succeeded"  # no reset happened
    assert emu.queue("q").messages() == []  # nor did a send
    status, body = _fetch_with_origin(emu, "/_fcemu/tasks", foreign.rstrip("/"))
    assert status == 403 and json.loads(body)["Code"] == "AccessDenied"


async def _make_queue(engine: Engine) -> None:
    engine.create_queue("q")


def _fetch_with_origin(emu: fcemu.Emulator, path: str, origin: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(emu.endpoint + path, headers={"Origin": origin})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_in_verify_mode_the_console_signs_with_the_pair_it_asks_for(
        page: Any, browser_context: Any, shoot: Shoot) -> None:
    expect = _expect()
    with fcemu.Emulator(clock="manual", seed=7, access_keys=(("console-key", "s3cret"),)) as emu:
        _deploy(emu, on_success="done")
        page.goto(f"{emu.endpoint}/#/tasks")
        dialog = page.locator("#login")
        expect(dialog).to_be_visible()
        shoot(page, "verify-login")
        dialog.locator("input[name=keyId]").fill("console-key")
        dialog.locator("input[name=secret]").fill("wrong")
        dialog.get_by_role("button", name="Sign in").click()
        expect(dialog).to_be_visible()  # a wrong secret is refused, and asked again
        expect(dialog.locator("#login-error")).not_to_be_empty()
        dialog.locator("input[name=keyId]").fill("console-key")
        dialog.locator("input[name=secret]").fill("s3cret")
        dialog.get_by_role("button", name="Sign in").click()
        expect(page.locator("#live")).to_have_text("live")
        _invoke_async(_client(emu, "console-key", "s3cret"), "job", b"1",
                      task_id="signed-1")
        row = page.locator('#tasks tr[data-task="signed-1"]')
        expect(row).to_be_visible()
        page.get_by_role("button", name="Drain").click()
        expect(row).to_have_attribute("data-status", "Succeeded")
        # the pair lives in the tab's session only
        assert page.evaluate("() => localStorage.length") == 0
        page.evaluate("() => sessionStorage.clear()")


def test_functions_page_invokes_and_clock_page_moves_time_and_lists_faults(
        page: Any, emu: fcemu.Emulator, shoot: Shoot) -> None:
    expect = _expect()
    _deploy(emu, on_success="done", on_failure="dlq", maxAsyncRetryAttempts=1)
    emu.fail_destination("done", times=2)
    open_console(page, emu, "functions")
    card = page.locator('section.fn[data-fn="job"]')
    expect(card).to_contain_text("python3.10")
    expect(card.locator("table")).to_contain_text("on")  # task mode, LATEST
    form = card.locator("form.invoke")
    form.locator("select[name=kind]").select_option("Sync")
    form.locator("textarea[name=payload]").fill("ping")
    form.get_by_role("button", name="Invoke job").click()
    expect(card.locator(".invoke-result")).to_contain_text("ok:ping")
    emu.script("job", ["error", "run"])  # the next attempts: an error, then the handler
    form.locator("select[name=kind]").select_option("Async")
    form.locator("input[name=taskId]").fill("from-form")
    form.locator("input[name=delay]").fill("5")
    form.get_by_role("button", name="Invoke job").click()
    expect(card.locator(".invoke-result").get_by_role("link", name="from-form")).to_be_visible()
    assert emu.task("job", "from-form")["status"] == "Enqueued"
    page.get_by_role("button", name="+1 s").click()  # a redraw keeps the form's last result
    expect(page.locator("#fn-asof")).to_contain_text("2024-05-01 00:00:01.000")
    expect(card.locator(".invoke-result").get_by_role("link", name="from-form")).to_be_visible()
    expect(form.locator("input[name=taskId]")).to_have_value("from-form")
    shoot(page, "functions", readme=True)
    page.get_by_role("link", name="Clock & faults").click()
    expect(page.locator("#scripts")).to_contain_text("job")
    expect(page.locator("#dest-faults")).to_contain_text("done")
    shoot(page, "clock", readme=True)
    page.locator("#advance input[name=seconds]").fill("4")
    page.locator("#advance").get_by_role("button", name="Advance").click()
    expect(page.locator("#now")).to_contain_text("2024-05-01 00:00:05.000")
    expect(page.locator("#scripts")).to_contain_text("run")  # the error step is used
    assert emu.task("job", "from-form")["status"] == "Retrying"
    page.get_by_role("button", name="+1 s").click()  # the retry, 0.5 s later, runs
    expect(page.locator("#scripts")).to_contain_text("None in force")
    assert emu.task("job", "from-form")["status"] == "Succeeded"
    expect(page.locator("#dest-faults td[data-label=Left]")).to_have_text("1")


def test_task_table_pages_filters_by_time_and_follows_a_reset(page: Any,
                                                              emu: fcemu.Emulator) -> None:
    expect = _expect()
    _deploy(emu)
    for n in range(25):  # one task every 10 s of emulator time
        emu.invoke("job", b"x", asynchronous=True, task_id=f"p-{n:02d}")
        emu.clock.advance(10)
    open_console(page, emu, "tasks")
    rows = page.locator("#tasks tbody tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_have_attribute("data-task", "p-24")  # newest first
    page.get_by_role("button", name="Older →").click()
    expect(rows).to_have_count(5)
    expect(rows.last).to_have_attribute("data-task", "p-00")
    expect(page.get_by_role("button", name="Older →")).to_be_disabled()
    page.get_by_role("button", name="← Newer").click()
    expect(rows).to_have_count(20)
    filters = page.locator("#task-filters")
    filters.locator("input[name=from]").fill("2024-05-01T00:01:00")
    filters.locator("input[name=to]").fill("2024-05-01T00:01:30")
    expect(rows).to_have_count(4)  # submitted at 60, 70, 80 and 90 s
    expect(rows.first).to_have_attribute("data-task", "p-09")
    filters.locator("select[name=function]").select_option("job")
    expect(rows).to_have_count(4)
    emu.reset()  # the stream says so; the table follows
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("No task matches")


def test_on_a_real_clock_tasks_run_by_themselves_and_the_bar_offers_settle_only(
        page: Any) -> None:
    expect = _expect()
    with fcemu.Emulator(clock="real", seed=7) as emu:
        _deploy(emu)
        open_console(page, emu, "tasks")
        expect(page.locator("#mode")).to_have_text("real clock")
        expect(page.locator("#clock-actions button")).to_have_text(["Settle"])
        _invoke_async(_client(emu), "job", b"1", task_id="now-1")
        expect(page.locator('#tasks tr[data-task="now-1"]')).to_have_attribute(
            "data-status", "Succeeded")


def test_each_button_acts_once_on_what_the_page_shows_however_often_pages_were_opened(
        page: Any, emu: fcemu.Emulator) -> None:
    """A page's listeners go with it: Stop on task B's page stops B alone (not A, whose
    page came first), an Invoke after four visits of Functions makes one task, and a hash
    with a bad %-escape is an unknown page (the page fixture fails on any page error)."""
    expect = _expect()
    _deploy(emu)
    client = _client(emu)
    for task_id in ("A", "B"):
        _invoke_async(client, "job", b"{}", task_id=task_id, delay=600)
    open_console(page, emu, "task/job/A")
    expect(page.locator("h1 .badge")).to_have_text("Enqueued")
    page.goto(f"{emu.endpoint}/#/task/job/B")
    expect(page.locator("h1")).to_contain_text("B")
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("h1 .badge")).to_have_text("Stopped")
    assert (emu.task("job", "A")["status"], emu.task("job", "B")["status"]) == (
        "Enqueued", "Stopped")
    for view in ("functions", "tasks", "functions", "queues", "functions", "clock",
                 "functions"):
        page.goto(f"{emu.endpoint}/#/{view}")
        expect(page.locator(f'#nav a[data-page="{view}"]')).to_have_attribute(
            "aria-current", "page")
    form = page.locator('section.fn[data-fn="job"] form.invoke')
    form.locator("select[name=kind]").select_option("Async")
    form.locator("input[name=taskId]").fill("once")
    form.get_by_role("button", name="Invoke job").click()
    expect(page.locator('section.fn[data-fn="job"] .invoke-result')).to_contain_text("once")
    emu.settle()
    assert sorted(t["taskId"] for t in emu.tasks("job")) == ["A", "B", "once"]
    page.goto(f"{emu.endpoint}/#/task/job/%E0%A4%A")
    expect(page).to_have_url(f"{emu.endpoint}/#/tasks")
