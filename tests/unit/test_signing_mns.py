"""verify_mns's optional Content-MD5 and x-mns-date (fcemu.signing), and the batch total.

The strings to sign are written here as the MNS signing page lays them out
(https://www.alibabacloud.com/help/ja/mns/sign-requests): ``VERB``, ``CONTENT-MD5``
(empty when the header is absent), ``CONTENT-TYPE``, ``DATE`` (``x-mns-date``'s value
when it replaces ``Date``), the ``x-mns-*`` headers, the resource.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from fcemu import signing
from fcemu.errors import (
    InvalidDegist,
    MissingDateHeader,
    SignatureDoesNotMatch,
    SmqInvalidArgument,
)
from fcemu.smq import MAX_BATCH_BYTES, check_batch_bytes

KEYS = {"AKID": "SECRET"}
URI = "/queues/q/messages"
DATE = "Sun, 22 Nov 2026 22:54:09 GMT"
OTHER_DATE = "Sun, 22 Nov 2026 22:55:00 GMT"
BODY = (b'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/doc/v1/">'
        b"<MessageBody>aGk=</MessageBody></Message>")
SDK_MD5 = base64.b64encode(hashlib.md5(BODY).hexdigest().encode()).decode()
RFC1864_MD5 = base64.b64encode(hashlib.md5(BODY).digest()).decode()

Headers = list[tuple[str, str]]


def sign(string_to_sign: str, secret: str = "SECRET") -> str:
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return "MNS AKID:" + base64.b64encode(digest).decode()


def post(md5: str | None, *, date: str | None = DATE, x_mns_date: str | None = None,
         date_line: str | None = None) -> Headers:
    """A SendMessage's headers, signed over ``md5`` (or an empty line) and ``date_line``
    (default: the Date, else the x-mns-date)."""
    headers: Headers = [("Content-Type", "text/xml;charset=UTF-8"),
                        ("x-mns-version", "2015-06-06")]
    if md5 is not None:
        headers.append(("Content-MD5", md5))
    if date is not None:
        headers.append(("Date", date))
    if x_mns_date is not None:
        headers.append(("x-mns-date", x_mns_date))
    line = date_line if date_line is not None else (date or x_mns_date or "")
    mns = f"x-mns-date:{x_mns_date}\n" if x_mns_date is not None else ""
    string_to_sign = (f"POST\n{md5 or ''}\ntext/xml;charset=UTF-8\n{line}\n{mns}"
                      f"x-mns-version:2015-06-06\n{URI}")
    return [*headers, ("Authorization", sign(string_to_sign))]


# -- Content-MD5 -------------------------------------------------------------------------


@pytest.mark.parametrize("md5", [None, "", SDK_MD5, RFC1864_MD5, f" {RFC1864_MD5} "],
                         ids=["absent", "empty", "sdk-hex-form", "rfc1864", "padded"])
def test_content_md5_is_optional_and_takes_either_form(md5: str | None) -> None:
    signing.verify_mns("POST", URI, post(md5), BODY, KEYS)


@pytest.mark.parametrize("md5", [
    base64.b64encode(b"0" * 32).decode(),           # the SDK's form, of another body
    base64.b64encode(b"\0" * 16).decode(),           # RFC 1864's form, of another body
    hashlib.md5(BODY).hexdigest(),                   # the hex digest, not Base64
    SDK_MD5.lower(),
    "not base64 at all",
], ids=["sdk-form-other-body", "rfc-form-other-body", "bare-hex", "case", "garbage"])
def test_any_other_content_md5_is_invalid_degist(md5: str) -> None:
    with pytest.raises(InvalidDegist) as caught:
        signing.verify_mns("POST", URI, post(md5), BODY, KEYS)
    assert (caught.value.status, caught.value.code) == (400, "InvalidDegist")
    message = caught.value.message
    assert message.startswith("The Content-MD5 you specified is invalid.")
    assert SDK_MD5 in message and RFC1864_MD5 in message


def test_content_md5_of_an_empty_body_is_checked_too() -> None:
    empty_md5 = base64.b64encode(hashlib.md5(b"").digest()).decode()
    string_to_sign = f"DELETE\n{empty_md5}\n\n{DATE}\nx-mns-version:2015-06-06\n/queues/q"
    headers = [("Content-MD5", empty_md5), ("Date", DATE), ("x-mns-version", "2015-06-06"),
               ("Authorization", sign(string_to_sign))]
    signing.verify_mns("DELETE", "/queues/q", headers, b"", KEYS)
    with pytest.raises(InvalidDegist):
        signing.verify_mns("DELETE", "/queues/q", headers, b"x", KEYS)


def test_the_signature_is_checked_before_the_content_md5() -> None:
    headers = post("d3Jvbmc=")
    with pytest.raises(SignatureDoesNotMatch):
        signing.verify_mns("POST", URI, headers, BODY, {"AKID": "other"})


def test_a_content_md5_left_out_of_the_string_to_sign_is_a_signature_mismatch() -> None:
    headers = [*post(None)[:-1], ("Content-MD5", SDK_MD5), post(None)[-1]]
    with pytest.raises(SignatureDoesNotMatch):
        signing.verify_mns("POST", URI, headers, BODY, KEYS)


# -- x-mns-date ----------------------------------------------------------------------------


def test_x_mns_date_replaces_date() -> None:
    headers = post(SDK_MD5, date=None, x_mns_date=DATE)
    signing.verify_mns("POST", URI, headers, BODY, KEYS)
    assert signing.mns_date(headers) == DATE


def test_x_mns_date_stays_in_the_canonical_mns_headers() -> None:
    """Signed as the DATE line only, not also as an x-mns- header: a mismatch."""
    string_to_sign = (f"POST\n{SDK_MD5}\ntext/xml;charset=UTF-8\n{DATE}\n"
                      f"x-mns-version:2015-06-06\n{URI}")
    headers = [("Content-Type", "text/xml;charset=UTF-8"), ("Content-MD5", SDK_MD5),
               ("x-mns-version", "2015-06-06"), ("x-mns-date", DATE),
               ("Authorization", sign(string_to_sign))]
    with pytest.raises(SignatureDoesNotMatch):
        signing.verify_mns("POST", URI, headers, BODY, KEYS)


def test_date_wins_when_both_are_sent() -> None:
    both = {"date": DATE, "x_mns_date": OTHER_DATE}
    signing.verify_mns("POST", URI, post(SDK_MD5, **both), BODY, KEYS)
    with pytest.raises(SignatureDoesNotMatch):
        signing.verify_mns("POST", URI, post(SDK_MD5, **both, date_line=OTHER_DATE), BODY,
                           KEYS)
    assert signing.mns_date(post(SDK_MD5, **both)) == DATE


def test_neither_date_is_missing_date_header() -> None:
    headers = post(SDK_MD5, date=None)
    with pytest.raises(MissingDateHeader) as caught:
        signing.verify_mns("POST", URI, headers, BODY, KEYS)
    assert (caught.value.status, caught.value.code) == (400, "MissingDateHeader")
    assert signing.mns_date(headers) is None


def test_mns_date_reads_any_case_and_a_mapping() -> None:
    assert signing.mns_date({"X-MNS-Date": OTHER_DATE}) == OTHER_DATE
    assert signing.mns_date({"DATE": DATE, "x-mns-date": OTHER_DATE}) == DATE
    assert signing.mns_date({"date": ""}) == ""  # present: the date check refuses it later


def test_sign_mns_still_signs_with_date() -> None:
    signed = signing.sign_mns("POST", URI, {"x-mns-date": OTHER_DATE}, BODY, "AKID", "SECRET",
                              date=DATE)
    signing.verify_mns("POST", URI, signed, BODY, KEYS)
    assert signing.mns_date(signed) == DATE


# -- BatchSendMessage: the bodies total at most 64 KB ------------------------------------


def test_check_batch_bytes_counts_utf8_bytes() -> None:
    assert MAX_BATCH_BYTES == 65536
    check_batch_bytes(["x" * 4096] * 16)
    check_batch_bytes([])
    with pytest.raises(SmqInvalidArgument) as caught:
        check_batch_bytes(["x" * 65535, "é"])  # 65,535 characters, 65,537 bytes
    assert (caught.value.status, caught.value.code) == (400, "InvalidArgument")
    assert caught.value.message == ("The total size of the message bodies in a batch should "
                                    "be at most 65536 bytes; got 65537 bytes.")
