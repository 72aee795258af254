"""Every error the API answers, in the contract's form: {"error": {code, message, details}}."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from storage.errors import Conflict, Invalid, NotFound, OperationError, Refused

# Codes for answers the API makes itself (operation errors carry their own code).
HTTP_CODES = {
    400: "malformed_json",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "body_too_large",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An answer other than success: raised anywhere below a route, rendered by the app."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: list[str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or HTTP_CODES.get(status, "error")
        self.message = message
        self.details = details if details is not None else [message]
        self.headers = dict(headers or {})

    def response(self) -> Response:
        """Return the JSON response for this error."""
        return error_response(self.status, self.code, self.message, self.details, self.headers)


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Build the contract's error body with `status`."""
    body = {"error": {"code": code, "message": message, "details": details or [message]}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def from_operation(exc: OperationError, *, unknown_status: int = 404) -> ApiError:
    """Map a refused operation to an answer; nothing was changed by it.

    `unknown_status` is the status for NotFound: 404 when the unknown thing is the resource in
    the path, 422 when the request body names it (the contract's "unknown member or order").
    """
    if isinstance(exc, Invalid):
        return ApiError(422, exc.message, code=exc.code, details=list(exc.details))
    if isinstance(exc, NotFound):
        code = "not_found" if unknown_status == 404 else "unknown_reference"
        return ApiError(unknown_status, exc.message, code=code)
    if isinstance(exc, Conflict | Refused):
        # Refused: a programme rule says no right now (balance, cap, disabled): the request is
        # well formed but clashes with the member's state, like a Conflict.
        return ApiError(409, exc.message, code=exc.code)
    return ApiError(422, exc.message, code=exc.code)


async def on_api_error(request: Request, exc: Exception) -> Response:
    """Render an ApiError."""
    assert isinstance(exc, ApiError)
    return exc.response()


async def on_operation_error(request: Request, exc: Exception) -> Response:
    """Render an operation error a route did not map itself (ids in the path: 404)."""
    assert isinstance(exc, OperationError)
    return from_operation(exc).response()


async def on_http_exception(request: Request, exc: Exception) -> Response:
    """Render Starlette's own errors (no route, method not allowed) in the contract's form."""
    assert isinstance(exc, HTTPException)
    message = {404: "no such endpoint", 405: "method not allowed here"}.get(
        exc.status_code, str(exc.detail)
    )
    return error_response(
        exc.status_code, HTTP_CODES.get(exc.status_code, "error"), message, headers=exc.headers
    )


async def on_unexpected(request: Request, exc: Exception) -> Response:
    """Answer 500 in the contract's form (the exception is logged by the server)."""
    return error_response(500, "internal_error", "internal error; the request may be retried")
