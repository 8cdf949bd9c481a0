"""Durable mode against ``kill -9``: a ``fcemu serve --data-dir`` subprocess is killed (its
whole process group, SIGKILL) and another is started on the same directory.

Every server runs a manual clock, so nothing moves by itself between a kill and the
restart; handlers and the test meet through loopback sockets (bounded handshakes), never
through wall-clock waits. Every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.cli.conftest import environment
from tests.constants import queue_arn

FC = "/2023-03-30"
MNS = {"x-mns-version": "2015-06-06", "content-type": "text/xml"}
ECHO = "def handler(event, context):\n    return event\n"
#: First attempt: tell the test it runs (a connection to TEST_PORT), then wait for the test
#: to hang up; a later attempt (the marker file exists) answers at once.
BLOCKING = """
import os, socket

def handler(event, context):
    marker = os.environ["MARKER"]
    if os.path.exists(marker):
        return "second"
    open(marker, "w").close()
    with socket.create_connection(("127.0.0.1", int(os.environ["TEST_PORT"])), 30) as s:
        s.sendall(b"started")
        s.recv(1)  # returns when the test closes its end
    return "first"
"""


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]

    def call(self, method: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"content-type": "application/json",
                                                  **(headers or {})})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=60) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.call(method, path, body)
        assert status < 300, (status, data)
        return json.loads(data) if data.strip() else None

    def kill9(self) -> None:
        """SIGKILL to the server and everything it started (its own process group)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@contextmanager
def serving(data: Path, log: Path) -> Iterator[Server]:
    with log.open("a") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "fcemu", "serve", "--port", "0", "--clock", "manual",
             "--data-dir", str(data)], env=environment(), stdout=subprocess.PIPE,
            stderr=errors, text=True, start_new_session=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"listening on (http://\S+)", banner)
        assert found, f"fcemu serve did not start:\n{banner}{log.read_text()}"
        yield Server(found[1], process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def zipped(source: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return base64.b64encode(buffer.getvalue()).decode()


def deploy(server: Server, name: str, source: str, *, retries: int = 3,
           env: dict[str, str] | None = None) -> None:
    server.json("POST", f"{FC}/functions", {
        "functionName": name, "runtime": "python3.10", "handler": "index.handler",
        "timeout": 60, "code": {"zipFile": zipped(source)},
        "environmentVariables": env or {}})
    server.json("PUT", f"{FC}/functions/{name}/async-invoke-config", {
        "asyncTask": True, "maxAsyncRetryAttempts": retries,
        "destinationConfig": {"onSuccess": {"destination": queue_arn("done")}}})


def all_tasks(server: Server) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    token = ""
    for _ in range(1000):  # pages of 100: bounded
        page = server.json("GET", f"/_fcemu/tasks?limit=100&nextToken={token}")
        found.update({t["taskId"]: t for t in page["tasks"]})
        token = page.get("nextToken") or ""
        if not token:
            return found
    raise AssertionError("the task listing did not end")


def results(server: Server) -> list[dict[str, Any]]:
    """Every result message on "done" (peeked: nothing consumed)."""
    doc = server.json("GET", "/_fcemu/queues/done/messages?limit=100000")
    return [json.loads(m["body"]) for m in doc["messages"]]


def drain(server: Server) -> None:
    server.json("POST", "/_fcemu/drain", {"timeout": 120})


async def burst(url: str, count: int, accepted: list[str], stop_after: int) -> None:
    """``count`` async submits over 32 connections; each 202 is recorded. Returns once
    ``stop_after`` were accepted (the rest are still in flight)."""
    enough = asyncio.Event()

    async def submit(session: aiohttp.ClientSession, i: int) -> None:
        task_id = f"task-{i:05d}"
        try:
            async with session.post(f"{url}{FC}/functions/echo/invocations", data=b"{}",
                                    headers={"x-fc-invocation-type": "Async",
                                             "x-fc-async-task-id": task_id}) as answer:
                if answer.status == 202:
                    accepted.append(task_id)
                    if len(accepted) >= stop_after:
                        enough.set()
        except (aiohttp.ClientError, asyncio.CancelledError):
            pass

    connector = aiohttp.TCPConnector(limit=32)
    session = aiohttp.ClientSession(connector=connector, trust_env=False)
    jobs = [asyncio.ensure_future(submit(session, i)) for i in range(count)]
    await asyncio.wait_for(enough.wait(), timeout=120)
    await session.close()  # the rest: cut off by the kill, or by this close
    for job in jobs:
        job.cancel()
    await asyncio.gather(*jobs, return_exceptions=True)


def test_a_burst_killed_midway_keeps_every_accepted_task_and_ends_each_once(
        tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    accepted: list[str] = []
    with serving(data, log) as server:
        deploy(server, "echo", ECHO)
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(burst(server.url, 2000, accepted, stop_after=1000))
        finally:
            server.kill9()  # mid-burst: requests still in flight
            loop.close()
    assert len(accepted) >= 1000
    with serving(data, log) as server:
        present = all_tasks(server)
        assert set(accepted) <= set(present), sorted(set(accepted) - set(present))[:5]
        drain(server)
        ended = all_tasks(server)
        assert {t["status"] for t in ended.values()} == {"Succeeded"}
        for task in ended.values():  # one terminal event each
            assert sum(e["status"] == "Succeeded" for e in task["events"]) == 1
        delivered = [m["requestContext"]["requestId"] for m in results(server)]
        assert sorted(delivered) == sorted(t["requestId"] for t in ended.values())  # once each
    with serving(data, log) as server:  # and it all stays that way
        assert len(results(server)) == len(ended)


def test_a_task_running_at_the_kill_counts_that_attempt_as_a_crash_and_is_retried(
        tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(60)
    try:
        with serving(data, log) as server:
            deploy(server, "slow", BLOCKING, retries=1, env={
                "TEST_PORT": str(listener.getsockname()[1]),
                "MARKER": str(tmp_path / "first-attempt")})
            status, _ = server.call("POST", f"{FC}/functions/slow/invocations", b"{}",
                                    {"x-fc-invocation-type": "Async",
                                     "x-fc-async-task-id": "slow-1"})
            assert status == 202
            handler, _ = listener.accept()  # the first attempt runs now
            with handler:
                assert handler.recv(7) == b"started"
                running = server.json("GET", f"{FC}/functions/slow/async-tasks/slow-1")
                assert running["status"] == "Running"
                server.kill9()
    finally:
        listener.close()
    with serving(data, log) as server:
        task = server.json("GET", f"{FC}/functions/slow/async-tasks/slow-1")
        assert task["status"] == "Retrying"
        drain(server)
        task = server.json("GET", f"{FC}/functions/slow/async-tasks/slow-1")
        assert (task["status"], task["alreadyRetriedTimes"]) == ("Succeeded", 1)
        assert [e["status"] for e in task["events"]] == [
            "Enqueued", "Processed", "Running", "Retrying", "Running", "Succeeded"]
        assert json.loads(task["events"][3]["eventDetail"]) == {
            "Error": "UnhandledInvocationError"}
        [message] = results(server)
        assert message["responsePayload"] == "second"


def test_a_result_seen_before_the_kill_is_delivered_exactly_once(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    with serving(data, log) as server:
        deploy(server, "echo", ECHO)
        for i in range(50):
            status, _ = server.call("POST", f"{FC}/functions/echo/invocations", b"{}",
                                    {"x-fc-invocation-type": "Async",
                                     "x-fc-async-task-id": f"t-{i}"})
            assert status == 202
        server.json("POST", "/_fcemu/settle", {"timeout": 120})
        finished = all_tasks(server)
        server.kill9()  # right after the tasks finished and pushed their results
    assert {t["status"] for t in finished.values()} == {"Succeeded"}
    with serving(data, log) as server:
        drain(server)
        delivered = sorted(m["requestContext"]["requestId"] for m in results(server))
        assert delivered == sorted(t["requestId"] for t in finished.values())
        assert all(t["status"] == "Succeeded" for t in all_tasks(server).values())


def test_smq_keeps_every_acknowledged_send_and_no_deleted_message_returns(
        tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    sent: dict[str, str] = {}
    with serving(data, log) as server:
        status, _ = server.call("PUT", "/queues/q", b"", MNS)
        assert status in (201, 204)

        async def send_all() -> None:
            async with aiohttp.ClientSession(trust_env=False) as session:
                async def send(i: int) -> None:
                    body = (f'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://'
                            f'mns.aliyuncs.com/doc/v1/"><MessageBody>m{i}</MessageBody>'
                            '</Message>')
                    async with session.post(f"{server.url}/queues/q/messages",
                                            data=body.encode(), headers=MNS) as answer:
                        if answer.status == 201:
                            found = re.search(r"<MessageId>([^<]+)</MessageId>",
                                              await answer.text())
                            assert found
                            sent[found[1]] = f"m{i}"
                await asyncio.gather(*(send(i) for i in range(300)))

        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(send_all())
        finally:
            loop.close()
        deleted = []
        for _ in range(100):  # receive and delete 100 of them (each one acknowledged)
            status, answer = server.call("GET", "/queues/q/messages?numOfMessages=1", None,
                                         MNS)
            assert status == 200
            handle = re.search(rb"<ReceiptHandle>([^<]+)</ReceiptHandle>", answer)
            message_id = re.search(rb"<MessageId>([^<]+)</MessageId>", answer)
            assert handle and message_id
            status, _ = server.call(
                "DELETE", f"/queues/q/messages?ReceiptHandle={handle[1].decode()}", None, MNS)
            assert status == 204
            deleted.append(message_id[1].decode())
        server.kill9()
    with serving(data, log) as server:
        doc = server.json("GET", "/_fcemu/queues/q/messages?limit=1000")
        left = {m["messageId"]: m["body"] for m in doc["messages"]}
        assert set(left) == set(sent) - set(deleted)
        assert all(left[k] == sent[k] for k in left)


def test_ctrl_c_in_the_terminal_shuts_down_with_every_change_committed(tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the server's whole process group; the store's writer
    process is in a session of its own, so it keeps writing until the server's shutdown
    has committed its last batch, then ends with it."""
    data, log = tmp_path / "data", tmp_path / "serve.log"
    with serving(data, log) as server:
        deploy(server, "kept", ECHO)
        os.killpg(server.process.pid, signal.SIGINT)
        assert server.process.wait(timeout=60) == 0
    text = log.read_text()
    assert "Traceback" not in text and "could not commit" not in text, text
    with serving(data, log) as server:
        assert server.json("GET", f"{FC}/functions/kept")["functionName"] == "kept"
