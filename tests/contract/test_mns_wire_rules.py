"""The MNS wire rules of the audit of session 20, end to end against a real fcemu.

Verify mode (``@pytest.mark.fcemu(access_keys=...)``) with requests signed by hand
as the MNS signing page describes them
(https://www.alibabacloud.com/help/ja/mns/sign-requests), independent of
:mod:`fcemu.signing`: an optional ``Content-MD5`` (the SDK's Base64 of the hex
MD5, or RFC 1864's Base64 of the digest; any other value is 400 ``InvalidDegist``),
and ``x-mns-date`` in place of ``Date``. Then BatchSendMessage's 64 KB total through
the MNS SDK (https://www.alibabacloud.com/help/doc-detail/175586.htm).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import http.client
import time
from collections.abc import Callable
from xml.etree import ElementTree

import pytest

from fcemu import Emulator

pytest.importorskip("mns", reason="pip install -e '.[test]'")

from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta

KEY_ID, SECRET = "AKID", "SECRET"
VERIFY = pytest.mark.fcemu(access_keys=((KEY_ID, SECRET),))
NS = "{http://mns.aliyuncs.com/doc/v1/}"
BODY = (b'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/'
        b'v1/"><MessageBody>hello</MessageBody></Message>')
SDK_MD5 = base64.b64encode(hashlib.md5(BODY).hexdigest().encode()).decode()
RFC1864_MD5 = base64.b64encode(hashlib.md5(BODY).digest()).decode()
CONTENT_TYPE = "text/xml;charset=UTF-8"


def signed(method: str, uri: str, headers: dict[str, str], date_line: str) -> dict[str, str]:
    """``headers`` plus ``x-mns-version`` and an Authorization over the documented string
    to sign, with ``date_line`` as its DATE line."""
    out = {"x-mns-version": "2015-06-06", **headers}
    mns = "".join(f"{k}:{out[k]}\n" for k in sorted(out) if k.startswith("x-mns-"))
    string_to_sign = (f"{method}\n{out.get('content-md5', '')}\n{out.get('content-type', '')}\n"
                      f"{date_line}\n{mns}{uri}")
    digest = hmac.new(SECRET.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return {**out, "authorization": f"MNS {KEY_ID}:{base64.b64encode(digest).decode()}"}


def send(emu: Emulator, method: str, uri: str, headers: dict[str, str],
         body: bytes = b"") -> tuple[int, dict[str, str]]:
    """The status and (for XML) the root's children; http.client adds no Date header."""
    host, port = emu.host_port.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, uri, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    fields = {c.tag.replace(NS, ""): c.text or "" for c in ElementTree.fromstring(data)} \
        if data else {}
    return response.status, fields


def now(offset_s: float = 0) -> str:
    return email.utils.formatdate(time.time() + offset_s, usegmt=True)


@pytest.fixture
def queue_q1(fcemu: Emulator) -> None:
    date = now()
    assert send(fcemu, "PUT", "/queues/q1", signed("PUT", "/queues/q1", {"date": date},
                                                   date))[0] == 201


def post(emu: Emulator, headers: dict[str, str], date_line: str,
         body: bytes = BODY) -> tuple[int, dict[str, str]]:
    uri = "/queues/q1/messages"
    return send(emu, "POST", uri, signed("POST", uri, headers, date_line), body)


@VERIFY
@pytest.mark.usefixtures("queue_q1")
def test_content_md5_is_optional_and_takes_either_form(fcemu: Emulator) -> None:
    date = now()
    base = {"date": date, "content-type": CONTENT_TYPE}
    assert post(fcemu, base, date)[0] == 201  # no Content-MD5: an empty line in its place
    assert post(fcemu, {**base, "content-md5": SDK_MD5}, date)[0] == 201
    assert post(fcemu, {**base, "content-md5": RFC1864_MD5}, date)[0] == 201
    assert len(fcemu.queue("q1").messages()) == 3


@VERIFY
@pytest.mark.usefixtures("queue_q1")
def test_a_wrong_content_md5_is_invalid_degist(fcemu: Emulator) -> None:
    date = now()
    wrong = base64.b64encode(b"0" * 32).decode()
    status, error = post(fcemu, {"date": date, "content-type": CONTENT_TYPE,
                                 "content-md5": wrong}, date)
    assert status == 400
    assert sorted(error) == ["Code", "HostId", "Message", "RequestId"]
    assert error["Code"] == "InvalidDegist"
    assert error["Message"].startswith("The Content-MD5 you specified is invalid.")
    assert SDK_MD5 in error["Message"] and RFC1864_MD5 in error["Message"]
    # a body changed after signing: same answer
    status, error = post(fcemu, {"date": date, "content-type": CONTENT_TYPE,
                                 "content-md5": SDK_MD5}, date, BODY.replace(b"hello", b"bye"))
    assert (status, error["Code"]) == (400, "InvalidDegist")
    # the signature is checked first: a wrong one is SignatureDoesNotMatch, whatever the MD5
    status, error = post(fcemu, {"date": date, "content-type": CONTENT_TYPE,
                                 "content-md5": wrong}, now(-1))
    assert (status, error["Code"]) == (403, "SignatureDoesNotMatch")
    assert fcemu.queue("q1").messages() == []


@VERIFY
@pytest.mark.usefixtures("queue_q1")
def test_x_mns_date_replaces_date(fcemu: Emulator) -> None:
    date = now()
    status, fields = send(fcemu, "GET", "/queues/q1",
                          signed("GET", "/queues/q1", {"x-mns-date": date}, date))
    assert (status, fields["QueueName"]) == (200, "q1")
    # it is the date the 15-minute window reads
    stale = now(-3600)
    status, error = send(fcemu, "GET", "/queues/q1",
                         signed("GET", "/queues/q1", {"x-mns-date": stale}, stale))
    assert (status, error["Code"]) == (408, "TimeExpired")
    # neither header
    status, error = send(fcemu, "GET", "/queues/q1", signed("GET", "/queues/q1", {}, ""))
    assert (status, error["Code"]) == (400, "MissingDateHeader")


@VERIFY
@pytest.mark.usefixtures("queue_q1")
def test_date_wins_over_x_mns_date(fcemu: Emulator) -> None:
    date, other = now(), now(-60)
    headers = {"date": date, "x-mns-date": other}
    assert send(fcemu, "GET", "/queues/q1", signed("GET", "/queues/q1", headers, date))[0] == 200
    status, error = send(fcemu, "GET", "/queues/q1", signed("GET", "/queues/q1", headers, other))
    assert (status, error["Code"]) == (403, "SignatureDoesNotMatch")
    # the window reads Date too: a fresh x-mns-date does not save a stale Date
    stale = now(-3600)
    headers = {"date": stale, "x-mns-date": date}
    status, error = send(fcemu, "GET", "/queues/q1", signed("GET", "/queues/q1", headers, stale))
    assert (status, error["Code"]) == (408, "TimeExpired")


# -- BatchSendMessage: at most 64 KB of bodies -------------------------------------------


def server_error(call: Callable[[], object]) -> MNSServerException:
    with pytest.raises(MNSServerException) as info:
        call()
    return info.value


def test_batch_send_total_is_at_most_64_kb(fcemu: Emulator, mns_account: Account) -> None:
    queue = mns_account.get_queue("q1")
    queue.create(QueueMeta())
    queue.set_encoding(False)
    assert len(queue.batch_send_message([Message("x" * 4096) for _ in range(16)])) == 16
    assert len(fcemu.queue("q1").messages()) == 16
    queue = mns_account.get_queue("q2")
    queue.create(QueueMeta())
    queue.set_encoding(False)
    too_big = [Message("x" * 4096) for _ in range(15)] + [Message("x" * 4097)]
    error = server_error(lambda: queue.batch_send_message(too_big))
    assert error.type == "InvalidArgument" and error.host_id  # the MNS error, not items
    assert "65536" in error.message and "65537" in error.message
    assert fcemu.queue("q2").messages() == []  # nothing of a refused batch


def test_batch_send_total_counts_the_bodies_as_sent(fcemu: Emulator,
                                                    mns_account: Account) -> None:
    """The SDK Base64-encodes bodies by default: 2 × 30,000 bytes go as 2 × 40,000."""
    queue = mns_account.get_queue("q1")
    queue.create(QueueMeta())
    error = server_error(lambda: queue.batch_send_message([Message("y" * 30000)] * 2))
    assert error.type == "InvalidArgument" and error.host_id  # the MNS error, not items
    assert "80000" in error.message
    assert fcemu.queue("q1").messages() == []
    queue.set_encoding(False)
    assert len(queue.batch_send_message([Message("y" * 30000)] * 2)) == 2
