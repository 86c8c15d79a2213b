"""Every refusal as JSON: ``{"error": code, "message": text}`` with a 4xx status.

Validation failures (FastAPI's 422) become 400 ``invalid_request`` with the fields named;
unknown routes are 404 ``not_found``. ``code`` is stable for the client to translate;
``message`` never contains input values (a password typed in the wrong field stays out of
responses and logs).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from broker.errors import ApiError, Locked

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


async def api_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ApiError):
        raise exc
    if isinstance(exc, Locked):
        # In the body too, so the page can say how long (it cannot read every header).
        wait = max(1, exc.retry_after_s)
        response = _error(exc.status, exc.code, exc.message, retry_after_s=wait)
        response.headers["Retry-After"] = str(wait)
        return response
    return _error(exc.status, exc.code, exc.message)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        raise exc
    fields = []
    for problem in exc.errors()[:20]:
        location = ".".join(str(part) for part in problem.get("loc", ()))
        fields.append({"field": location, "problem": str(problem.get("type", "invalid"))})
    return _error(400, "invalid_request", "the request does not match the schema", fields=fields)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        raise exc
    codes = {404: "not_found", 405: "method_not_allowed", 401: "not_signed_in"}
    return _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
