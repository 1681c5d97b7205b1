"""Helix error bodies `{"error","status","message"}` and the handlers that produce them."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse


class ApiError(Exception):
    """A client-facing API error with its HTTP status (and optional headers)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": HTTPStatus(status).phrase, "status": status, "message": message}


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None,
                   ) -> JSONResponse:
    return JSONResponse(error_body(status, message), status, headers=dict(headers or {}))


def describe_validation(exc: RequestValidationError) -> str:
    """One readable sentence per problem, naming the parameter or body field."""
    parts: list[str] = []
    for err in exc.errors():
        full = list(err.get("loc", ()))
        # drop the leading location kind only (a parameter may itself be named "query")
        loc = [str(p) for p in (full[1:] if full and full[0] in ("query", "body", "header",
                                                                "path") else full)]
        where = loc[0] if loc and err.get("loc", ("",))[0] != "body" else ".".join(loc)
        kind = str(err.get("loc", ("",))[0])
        what = "parameter" if kind in ("query", "path", "header") else "body field"
        if err.get("type") == "missing":
            parts.append(f"Missing required {what} {where!r}" if where else "Missing body")
        elif where:
            parts.append(f"Invalid {what} {where!r}: {err.get('msg', 'invalid value')}")
        else:
            parts.append(f"Invalid body: {err.get('msg', 'invalid value')}")
    return "; ".join(parts) or "Invalid request"


M = TypeVar("M", bound=BaseModel)


def query_model(model: type[M], request: Request) -> M:
    """Build a body model from the query string (Twitch accepts either for some POSTs);
    problems become the same 400 as a bad body."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise ApiError(400, describe_validation(RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]))) from None


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.message, exc.headers)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(400, describe_validation(exc))

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(exc.status_code, str(exc.detail), exc.headers)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
