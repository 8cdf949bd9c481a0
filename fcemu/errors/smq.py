"""Simple Message Queue (MNS) errors: one class per MNS error code, with its HTTP status.

The SMQ engine raises them; only the SMQ API renders them, as the MNS XML ``<Error>``
(spec §13.2). Codes, statuses and default messages are the MNS service's own
(spec §13.2; decisions.md "Accounts, regions, credentials" for the signature errors).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [  # every error here (fcemu.errors re-exports them)
    "EndpointInvalid", "InvalidAuthorizationHeader", "InvalidDegist", "InvalidQueryString",
    "InvalidQueueName", "InvalidRequestURL", "MalformedXML", "MessageNotExist",
    "MissingAuthorizationHeader", "MissingDateHeader", "MissingReceiptHandle",
    "MissingVisibilityTimeout",
    "QueueAlreadyExist", "QueueNameLengthError", "QueueNotExist", "ReceiptHandleError",
    "SignatureDoesNotMatch", "SmqError", "SmqInvalidAccessKeyId", "SmqInvalidArgument",
    "SubscriptionAlreadyExist", "SubscriptionNameInvalid", "SubscriptionNameLengthError",
    "SubscriptionNotExist", "TopicAlreadyExist", "TopicNameInvalid", "TopicNameLengthError",
    "TopicNotExist",
]


class SmqError(Exception):
    """Base of every SMQ error; rendered as the MNS XML ``<Error>`` (spec §13.2)."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "InternalError"
    default_message: ClassVar[str] = "Interal error."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status} {self.code}: {self.message})"


class SmqInvalidArgument(SmqError):
    status = 400
    code = "InvalidArgument"


class MalformedXML(SmqError):
    status = 400
    code = "MalformedXML"
    default_message = "The XML you provided was not well-formed."


class InvalidQueueName(SmqError):
    status = 400
    code = "InvalidQueueName"


class QueueNameLengthError(SmqError):
    status = 400
    code = "QueueNameLengthError"


class QueueNotExist(SmqError):
    status = 404
    code = "QueueNotExist"
    default_message = "The queue name you provided is not exist."


class QueueAlreadyExist(SmqError):
    status = 409
    code = "QueueAlreadyExist"
    default_message = "The queue you want to create is already exist."


class MessageNotExist(SmqError):
    status = 404
    code = "MessageNotExist"
    default_message = "Message not exist."


class ReceiptHandleError(SmqError):
    status = 400
    code = "ReceiptHandleError"
    default_message = "The receipt handle you provide is not valid."


class MissingReceiptHandle(SmqError):
    status = 400
    code = "MissingReceiptHandle"
    default_message = "ReceiptHandle is required."


class MissingVisibilityTimeout(SmqError):
    status = 400
    code = "MissingVisibilityTimeout"
    default_message = "VisibilityTimeout is required."


class TopicNotExist(SmqError):
    status = 404
    code = "TopicNotExist"
    default_message = "The topic name you provided is not exist."


class TopicAlreadyExist(SmqError):
    status = 409
    code = "TopicAlreadyExist"
    default_message = "The topic you want to create is already exist."


class SubscriptionNotExist(SmqError):
    status = 404
    code = "SubscriptionNotExist"
    default_message = "The subscription name you provided is not exist."


class SubscriptionAlreadyExist(SmqError):
    status = 409
    code = "SubscriptionAlreadyExist"
    default_message = "The subscription you want to create is already exist."


class TopicNameInvalid(SmqError):
    """400: topic names follow the queue-name rules (code as the MNS SDKs know it)."""

    status = 400
    code = "TopicNameInvalid"


class TopicNameLengthError(SmqError):
    status = 400
    code = "TopicNameLengthError"


class SubscriptionNameInvalid(SmqError):
    status = 400
    code = "SubscriptionNameInvalid"


class SubscriptionNameLengthError(SmqError):
    status = 400
    code = "SubscriptionNameLengthError"


class EndpointInvalid(SmqError):
    """400: a subscription endpoint that is empty or cannot be read."""

    status = 400
    code = "EndpointInvalid"


class InvalidRequestURL(SmqError):
    """400: a method or path the MNS API does not have."""

    status = 400
    code = "InvalidRequestURL"
    default_message = "Http request URL format invalid."


class InvalidQueryString(SmqError):
    status = 400
    code = "InvalidQueryString"


# Signature verification (verify mode, decisions.md "Accounts, regions, credentials";
# codes and statuses from spec §13.2).


class SignatureDoesNotMatch(SmqError):
    status = 403
    code = "SignatureDoesNotMatch"
    default_message = ("The request signature we calculated does not match the signature you "
                       "provided. Check your key and signing method.")


class SmqInvalidAccessKeyId(SmqError):
    """403 ``InvalidAccessKeyId`` (prefixed: FC's ``InvalidAccessKeyID`` differs only in case)."""

    status = 403
    code = "InvalidAccessKeyId"
    default_message = "The AccessKey Id you provided is not exist."


class MissingAuthorizationHeader(SmqError):
    status = 400
    code = "MissingAuthorizationHeader"
    default_message = "Authorization header is required."


class InvalidAuthorizationHeader(SmqError):
    status = 400
    code = "InvalidAuthorizationHeader"
    default_message = "The Authorization header format is invalid."


class MissingDateHeader(SmqError):
    status = 400
    code = "MissingDateHeader"
    default_message = "Date header is required."


class InvalidDegist(SmqError):
    """400: a ``Content-MD5`` that is not the body's MD5 (the code's spelling is MNS's own)."""

    status = 400
    code = "InvalidDegist"
    default_message = "The Content-MD5 you specified is invalid."
