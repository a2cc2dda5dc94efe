"""The API's errors: JSON ``{"error": {"code", "message"}}`` with stable codes, never a trace."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from timbre.errors import (
    DataError,
    NotFoundError,
    ParameterError,
    SourceError,
    StorageError,
    TimbreError,
)

log = logging.getLogger(__name__)

#: HTTP status and code of each of Timbre's own errors (the first match wins: subclasses first).
TIMBRE_ERRORS: tuple[tuple[type[TimbreError], int, str], ...] = (
    (NotFoundError, 404, "not_found"),
    (ParameterError, 422, "invalid_parameter"),
    (DataError, 422, "invalid_data"),
    (SourceError, 502, "source_failed"),
    (StorageError, 503, "store_unavailable"),
    (TimbreError, 400, "bad_request"),
)
#: Codes of the HTTP errors the framework raises itself (unknown route, wrong method).
HTTP_CODES = {404: "no_such_endpoint", 405: "method_not_allowed"}
INTERNAL = "an internal error occurred; the server's log has the details"


class ApiError(Exception):
    """An error the API answers with: status, stable code, message, optionally the field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The JSON body every error has."""
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status, headers=dict(headers or {}))


def from_timbre(exc: TimbreError, field: str | None = None) -> ApiError:
    """An ``ApiError`` for one of Timbre's own errors (its message is meant for people)."""
    for kind, status, code in TIMBRE_ERRORS:
        if isinstance(exc, kind):
            return ApiError(status, code, str(exc), field)
    raise AssertionError("TimbreError is the last entry")  # pragma: no cover


def _field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("query", "path", "body", "header") and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) or "body"


def install_handlers(app: FastAPI) -> None:
    """Answer every error as JSON: the API's own, Timbre's, validation, HTTP and anything else
    (logged here with its trace, answered with ``internal_error`` and no detail)."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    async def timbre_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, TimbreError)
        made = from_timbre(exc)
        return error_response(made.status, made.code, made.message)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        field = _field(first.get("loc", ("body",)))
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        message = f"{field}: {first.get('msg', 'invalid')}{more}"
        return error_response(422, "invalid_request", message, field)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", INTERNAL)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(TimbreError, timbre_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal)
