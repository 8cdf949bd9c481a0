"""SMQ message properties on their own: the limits :func:`make_properties` checks, the
XML :func:`fcemu.api.smq.xml.properties` reads and the XML a receive writes."""

from __future__ import annotations

import base64
from xml.etree import ElementTree

import pytest

from fcemu.api.smq import xml
from fcemu.errors import SmqInvalidArgument
from fcemu.smq import Message
from fcemu.smq.properties import (
    MAX_PROPERTIES,
    MAX_VALUE,
    SYSTEM_NAMES,
    Properties,
    make_properties,
)

B64 = base64.b64encode(b"\x00\xffbytes").decode()


def test_the_four_types_in_any_case_are_kept_upper_case_in_the_order_sent() -> None:
    props = make_properties(
        [("s", "String", "text <&>"), ("n", "NUMBER", "-1.5e3"), ("b", "boolean", "false"),
         ("bin", "Binary", B64), ("empty", "STRING", "")],
        [("traceparent", "string", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")])
    assert props == Properties(
        (("s", "STRING", "text <&>"), ("n", "NUMBER", "-1.5e3"), ("b", "BOOLEAN", "false"),
         ("bin", "BINARY", B64), ("empty", "STRING", "")),
        (("traceparent", "STRING", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),))


def test_no_properties_is_none_and_limits_at_their_edge_are_accepted() -> None:
    assert make_properties() is None and make_properties([], []) is None
    at_edge = [(f"p.{i}_-{'x' * 240}"[:256], "STRING", "v" * MAX_VALUE)
               for i in range(MAX_PROPERTIES)]
    props = make_properties(at_edge, [(n, "STRING", "v") for n in SYSTEM_NAMES])
    assert props is not None and len(props.user) == 50 and len(props.system) == 6
    # the docs: a Number "does not validate that the value is a number"
    assert make_properties([("n", "NUMBER", "not a number")]) is not None


@pytest.mark.parametrize(("user", "system", "text"), [
    ([("p", "STRING", "v")] * 2, [], "the property name 'p' is given twice"),
    ([(f"p{i}", "STRING", "v") for i in range(51)], [], "at most 50 properties; got 51"),
    ([("a b", "STRING", "v")], [], "the property name 'a b' is not valid"),
    ([("", "STRING", "v")], [], "1 to 256 characters of A-Z, a-z, 0-9"),
    ([("x" * 257, "STRING", "v")], [], "is not valid"),
    ([("é", "STRING", "v")], [], "is not valid"),
    ([("p", "DATE", "v")], [], "Type 'DATE'; the types are STRING, NUMBER, BOOLEAN, BINARY"),
    ([("p", "STRING", "v" * 4097)], [], "is 4097 characters; at most 4096"),
    ([("p", "BOOLEAN", "True")], [], "must be the string 'true' or 'false'"),
    ([("p", "BOOLEAN", "")], [], "must be the string 'true' or 'false'"),
    ([("p", "BINARY", "not base64!")], [], "is not Base64 text"),
    ([("p", "BINARY", "é")], [], "is not Base64 text"),
    ([("p", "BINARY", base64.b64encode(b"x" * 3073).decode())], [], "at most 4096"),
    ([], [("traceid", "STRING", "v")], "'traceid' is not a system property; they are "
                                       "traceparent, tracestate, baggage, DLQMessageType"),
    ([], [("baggage", "NUMBER", "1")], "Type 'NUMBER'; the types are STRING."),
    ([], [("baggage", "STRING", "v")] * 2, "SystemProperties: the property name 'baggage' "
                                           "is given twice"),
    ([], [("baggage", "STRING", "v" * 4097)], "at most 4096"),
])
def test_what_the_limits_refuse(user: list[tuple[str, str, str]],
                                system: list[tuple[str, str, str]], text: str) -> None:
    with pytest.raises(SmqInvalidArgument, match=r"^message 2: ") as info:
        make_properties(user, system, where="message 2: ")
    assert text in info.value.message
    assert (info.value.status, info.value.code) == (400, "InvalidArgument")


# -- XML ----------------------------------------------------------------------------------


def _message(inner: str) -> ElementTree.Element:
    return ElementTree.fromstring(
        f'<Message xmlns="http://mns.aliyuncs.com/doc/v1/"><MessageBody>b</MessageBody>'
        f"{inner}</Message>")


def _prop(name: str, value: str, type_: str, entry: str = "PropertyValue") -> str:
    return f"<{entry}><Name>{name}</Name><Value>{value}</Value><Type>{type_}</Type></{entry}>"


def test_the_xml_the_sdks_write_is_read() -> None:
    root = _message(f"<UserProperties>{_prop('a', '1 &lt; 2', 'STRING')}"
                    f"<PropertyValue><Type>NUMBER</Type><Value/><Name>n</Name></PropertyValue>"
                    f"</UserProperties><SystemProperties>"
                    f"{_prop('tracestate', 'k=v', 'STRING', 'SystemPropertyValue')}"
                    f"</SystemProperties><Unknown><Nested/></Unknown>")
    assert xml.properties(root) == Properties((("a", "STRING", "1 < 2"), ("n", "NUMBER", "")),
                                              (("tracestate", "STRING", "k=v"),))
    assert xml.fields(root) == {"MessageBody": "b"}
    assert xml.properties(_message("")) is None
    assert xml.properties(_message("<UserProperties/><SystemProperties></SystemProperties>")
                          ) is None


@pytest.mark.parametrize(("inner", "cause"), [
    (f"<UserProperties>{_prop('a', 'v', 'STRING')}</UserProperties>"
     f"<UserProperties>{_prop('b', 'v', 'STRING')}</UserProperties>", "a second <UserProperties>"),
    (f"<UserProperties>{_prop('a', 'v', 'STRING', 'SystemPropertyValue')}</UserProperties>",
     "<SystemPropertyValue> where <PropertyValue> goes"),
    ("<UserProperties><PropertyValue><Name>a</Name><Value>v</Value></PropertyValue>"
     "</UserProperties>", "<PropertyValue> without <Type>"),
    ("<UserProperties><PropertyValue><Name>a</Name></PropertyValue></UserProperties>",
     "<PropertyValue> without <Type>, <Value>"),
    ("<UserProperties><PropertyValue><Name>a</Name><Name>b</Name></PropertyValue>"
     "</UserProperties>", "<Name> in <PropertyValue>"),
    ("<SystemProperties><SystemPropertyValue><Name>baggage</Name><Value>v</Value>"
     "<Type>STRING</Type><Extra>1</Extra></SystemPropertyValue></SystemProperties>",
     "<Extra> in <SystemPropertyValue>"),
])
def test_other_shapes_are_the_schema_error(inner: str, cause: str) -> None:
    with pytest.raises(SmqInvalidArgument) as info:
        xml.properties(_message(inner), "message 1: ")
    assert info.value.message == (
        "message 1: The XML you provided did not validate against our published schema, "
        f"cause by {cause}.")


def test_a_receive_writes_them_after_the_message_s_fields() -> None:
    props = make_properties([("k", "STRING", "a<b\r"), ("bin", "BINARY", B64)],
                            [("baggage", "STRING", "x=1")])
    message = Message("id", "body", None, 1, 2, receipt_handle="1-abc", properties=props)
    text = xml.message(message, received=True).decode()
    assert text.endswith(
        "<Priority>8</Priority><ReceiptHandle>1-abc</ReceiptHandle>"
        "<NextVisibleTime>2</NextVisibleTime><UserProperties><PropertyValue><Name>k</Name>"
        "<Value>a&lt;b&#13;</Value><Type>STRING</Type></PropertyValue><PropertyValue>"
        f"<Name>bin</Name><Value>{B64}</Value><Type>BINARY</Type></PropertyValue>"
        "</UserProperties><SystemProperties><SystemPropertyValue><Name>baggage</Name>"
        "<Value>x=1</Value><Type>STRING</Type></SystemPropertyValue></SystemProperties>"
        "</Message>")
    only_system = Message("id", "body", None, 1, 2, properties=Properties((), (("baggage",
                                                                                  "STRING",
                                                                                  "x"),)))
    assert "UserProperties" not in xml.message(only_system, received=False).decode()
    listed = xml.messages([message, Message("id2", "plain", None, 1, 2)],
                          received=False).decode()
    assert listed.count("<UserProperties>") == 1 and listed.count("<Message>") == 2
    assert "Properties" not in xml.message(Message("id", "b", None, 1, 2),
                                           received=True).decode()
