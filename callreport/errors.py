"""The contract's error envelope and codes; the only place they are spelled."""

from __future__ import annotations

from pydantic import ValidationError


class ApiError(Exception):
    """An outcome the API defines as an error: rendered as the envelope with HTTP 200."""

    code = 1009
    message = "Something went wrong"
    http_status = 200

    def __init__(self, detail: str | None = None, *, message: str | None = None, code: int | None = None):
        super().__init__(detail or message or self.message)
        self.detail = detail
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code

    def with_status(self, status: int) -> ApiError:
        """This error answered with another HTTP status (the API's own outcomes are 200)."""
        self.http_status = status
        return self

    def body(self) -> dict:
        """The envelope: status, message, code and, when there is one, detail."""
        out: dict = {"status": "error", "message": self.message, "code": self.code}
        if self.detail:
            out["detail"] = self.detail
        return out


class InvalidParameters(ApiError):
    code, message = 1000, "Invalid parameters"


class QueryTooSlow(InvalidParameters):
    """A query that ran past CALLREPORT_QUERY_TIMEOUT_SECONDS (§9 Cost): the filters were too broad."""

    def __init__(self, seconds: float):
        super().__init__(
            f"The query ran longer than {seconds:g} seconds: narrow the filters "
            "(a shorter date range, fewer callAnalysis conditions or values) and try again."
        )


class InvalidParameter(ApiError):
    """Download endpoints' bad requestId, exactly as the reference spells it."""

    code, message = 1000, "Invalid parameter"


class InvalidToken(ApiError):
    code, message = 1014, "Invalid token"


class PermissionDenied(ApiError):
    code, message = 1015, "Permission denied"


class InvalidRequestData(ApiError):
    code, message = 1047, "Invalid Request Data"


class NotExists(ApiError):
    """1009 with the thing's name: `Call Not Exists`, `Request Not Exists`, `File Not Exists`."""

    code = 1009

    def __init__(self, what: str, detail: str | None = None):
        super().__init__(detail, message=f"{what} Not Exists")


class SomethingWentWrong(ApiError):
    code, message = 1009, "Something went wrong"


class DatabaseUnavailable(ApiError):
    code, message = 1010, "Error in DB connect"


class TooManyRequests(ApiError):
    """1050: over the request rate (§9 Rates), or too many large bodies waiting; HTTP 429 with Retry-After."""

    code, message, http_status = 1050, "Too many requests", 429

    def __init__(self, detail: str | None = None, *, retry_after: int = 60):
        super().__init__(detail)
        self.retry_after = retry_after


def describe_validation(exc: ValidationError) -> str:
    """One sentence naming the first parameter at fault."""
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{loc} is not a known parameter."
    if kind == "missing":
        return f"{loc} is required."
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{loc}: {msg[0].lower() + msg[1:]}." if loc else f"{msg}."
