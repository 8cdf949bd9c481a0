"""Errors are values with a code (DESIGN.md principle 5).

One class per FC error code, named after the code, carrying its HTTP status.
The engine raises them; only the API middleware renders them, as the FC error
JSON ``{"Code", "Message", "RequestId"}`` (spec §3.1). Codes and statuses are
from spec §3.3 and decisions.md "Error codes".

SMQ (MNS) errors follow the same pattern and render as the MNS XML error
(spec §13.2): they are in :mod:`fcemu.errors.smq`, and importable from here too.
"""

from __future__ import annotations

from typing import ClassVar

# the SMQ errors (fcemu.errors.smq's __all__), importable from here as they always were
from fcemu.errors.smq import *  # noqa: F403


class FcError(Exception):
    """Base of every Function Compute error the emulator answers with."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "InternalServerError"
    default_message: ClassVar[str] = "an internal error has occurred. Please retry."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status} {self.code}: {self.message})"


class InvalidArgument(FcError):
    """400: a parameter is malformed or out of range; the message names it."""

    status = 400
    code = "InvalidArgument"
    default_message = "invalid argument"


class MissingRequiredHeader(FcError):
    status = 400
    code = "MissingRequiredHeader"

    def __init__(self, header: str) -> None:
        super().__init__(f"required HTTP header {header} was not specified")


class PathNotSupported(FcError):
    """400: unknown route or method under ``/2023-03-30`` (decisions.md)."""

    status = 400
    code = "PathNotSupported"

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"'{method}' against '{path}' is not supported")


class EntityTooLarge(FcError):
    status = 400
    code = "EntityTooLarge"

    def __init__(self, limit: int) -> None:
        super().__init__(f"payload size exceeds maximum allowed size ({limit} bytes)")


class AccessDenied(FcError):
    status = 403
    code = "AccessDenied"


class SignatureNotMatch(FcError):
    status = 403
    code = "SignatureNotMatch"
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your access key and signing method"
    )


class InvalidAccessKeyID(FcError):
    status = 403
    code = "InvalidAccessKeyID"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"invalid access key ID '{key_id}'")


class FunctionNotFound(FcError):
    status = 404
    code = "FunctionNotFound"

    def __init__(self, name: str) -> None:
        super().__init__(f"function '{name}' does not exist")


class VersionNotFound(FcError):
    status = 404
    code = "VersionNotFound"

    def __init__(self, function: str, version: str) -> None:
        super().__init__(f"version '{version}' of function '{function}' does not exist")


class AliasNotFound(FcError):
    status = 404
    code = "AliasNotFound"

    def __init__(self, function: str, alias: str) -> None:
        super().__init__(f"alias '{alias}' of function '{function}' does not exist")


class AsyncConfigNotExists(FcError):
    status = 404
    code = "AsyncConfigNotExists"

    def __init__(self, function: str, qualifier: str) -> None:
        super().__init__(f"AsyncConfig for {function}:{qualifier} does not exist.")


class ConcurrencyConfigNotFound(FcError):
    """404 for GetConcurrencyConfig with nothing set (Terraform matches this code)."""

    status = 404
    code = "OnDemandConfigNotFound"

    def __init__(self, function: str) -> None:
        super().__init__(f"concurrency config of function '{function}' does not exist")


class AsyncTaskNotFound(FcError):
    status = 404
    code = "AsyncTaskNotFound"

    def __init__(self, task_id: str) -> None:
        super().__init__(f"async task '{task_id}' does not exist")


class TriggerNotFound(FcError):
    status = 404
    code = "TriggerNotFound"

    def __init__(self, function: str, trigger: str) -> None:
        super().__init__(f"trigger '{trigger}' of function '{function}' does not exist")


class TriggerAlreadyExists(FcError):
    status = 409
    code = "TriggerAlreadyExists"

    def __init__(self, function: str, trigger: str) -> None:
        super().__init__(f"trigger '{trigger}' of function '{function}' already exists")


class FunctionNotEmpty(FcError):
    """409: DeleteFunction while the function has triggers (spec §4 error table)."""

    status = 409
    code = "FunctionNotEmpty"

    def __init__(self, name: str, triggers: list[str]) -> None:
        super().__init__(f"function '{name}' has active triggers ({', '.join(triggers)}): "
                         "delete them first (DeleteTrigger)")


class FunctionAlreadyExists(FcError):
    status = 409
    code = "FunctionAlreadyExists"

    def __init__(self, name: str) -> None:
        super().__init__(f"function '{name}' already exists")


class AsyncTaskAlreadyExists(FcError):
    """409: a repeated ``x-fc-async-task-id`` (spec §6.3, decisions.md)."""

    status = 409
    code = "AsyncTaskAlreadyExists"

    def __init__(self, task_id: str) -> None:
        super().__init__(f"async task '{task_id}' already exists")


class PreconditionFailed(FcError):
    status = 412
    code = "PreconditionFailed"
    default_message = "the resource being modified has been changed"


class AliasAlreadyExists(FcError):
    """409 for CreateAlias of a name the function has (FC errorcodes, 2021-04-06)."""

    status = 409
    code = "AliasAlreadyExists"

    def __init__(self, function: str, alias: str) -> None:
        super().__init__(f"alias '{alias}' of function '{function}' already exists")


class AdditionalVersionContainsMajorVersion(FcError):
    """400: an alias's ``additionalVersionWeight`` names its own ``versionId``."""

    status = 400
    code = "AdditionalVersionContainsMajorVersion"

    def __init__(self, weights: dict[str, float], version_id: str) -> None:
        super().__init__(f"additionalVersionWeight {weights} should not contain major "
                         f"version {version_id}")


class LayerNotFound(FcError):
    """404: a layer with no versions (codes from the alicloud Terraform provider's FC 3.0
    layer resource, docs/fidelity.md)."""

    status = 404
    code = "LayerNotFound"

    def __init__(self, name: str) -> None:
        super().__init__(f"layer '{name}' does not exist")


class LayerVersionNotFound(FcError):
    """404: a layer version that does not exist, or a function's layer ARN that is neither
    a version created here nor mapped to a local folder or zip (the message says how)."""

    status = 404
    code = "LayerVersionNotFound"
    #: The function prop a deployment file error points at.
    field = "layers"


class ResourceThrottled(FcError):
    status = 429
    code = "ResourceThrottled"


class InternalServerError(FcError):
    """500 in FC format; unexpected exceptions become this (never a stack trace)."""


class InsufficientResources(FcError):
    """503: "Function Compute resources are insufficient" (error-handling doc); the code is
    the 503 row of FC's error-code table (docs/fidelity.md)."""

    status = 503
    code = "ResourceThrottled"
    default_message = "Function Compute resources are insufficient. Please retry later."
