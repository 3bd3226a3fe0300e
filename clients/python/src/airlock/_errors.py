"""Exceptions of the Airlock SDK.

Every error the API answers is an :class:`APIError` (or a subclass chosen by its
HTTP status) carrying the API's JSON error: ``code``, ``message`` and ``field``.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional


class AirlockError(Exception):
    """The base of every exception this SDK raises."""


class APIError(AirlockError):
    """The API answered with an error status.

    ``status`` is the HTTP status; ``code``, ``message`` and ``field`` are the API's
    error object (``{"error": {"code", "message", "field"}}``); ``retry_after`` is the
    ``Retry-After`` header in seconds, when there was one.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: Optional[str] = None,
        retry_after: Optional[float] = None,
        body: Any = None,
    ):
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after
        self.body = body
        text = "%d %s: %s" % (status, code, message)
        if field:
            text += " (field: %s)" % field
        super().__init__(text)

    @property
    def error(self) -> str:
        """The API's error code (the same as ``code``)."""
        return self.code


class BadRequestError(APIError):
    """400: the body is not valid JSON of the right shape, or a query parameter or header is wrong."""


class AuthenticationError(APIError):
    """401: the gateway needs an API key and none was sent."""


class PermissionDeniedError(APIError):
    """403: the API key (or the Host) is not accepted."""


class NotFoundError(APIError):
    """404: no such execution or evaluation (or endpoint)."""


class PayloadTooLargeError(APIError):
    """413: the body or the encoded job is too large."""


class UnprocessableError(APIError):
    """422: the request breaks a validation rule (``field`` names the culprit)."""


class RateLimitError(APIError):
    """429: rate limited or the queue is full; raised once the retries are used up."""


class ServerError(APIError):
    """5xx: the gateway failed or is unavailable (503 is raised once the retries are used up)."""


class TransportError(AirlockError):
    """The gateway could not be reached, or the connection broke, after the retries."""


class WaitTimeout(AirlockError):
    """A wait ended before the execution or evaluation completed; ``last`` is the latest state seen."""

    def __init__(self, message: str, last: Any = None):
        super().__init__(message)
        self.last = last


_BY_STATUS = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    422: UnprocessableError,
    429: RateLimitError,
}


def retry_after(headers: Mapping[str, str]) -> Optional[float]:
    """The Retry-After header in seconds (a number of seconds; an HTTP date is not used by Airlock)."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None


def error_from_response(status: int, headers: Mapping[str, str], body: bytes) -> APIError:
    """The exception for an error answer, from the API's JSON error when the body holds one."""
    parsed: Any = None
    code, message, field = "http_%d" % status, body.decode("utf-8", "replace")[:500], None
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        err = parsed["error"]
        code = str(err.get("code", code))
        message = str(err.get("message", ""))
        field = err.get("field")
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else APIError)
    return cls(status, code, message, field, retry_after(headers), parsed)
