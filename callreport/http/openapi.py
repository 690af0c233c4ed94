"""What a contract route tells the OpenAPI document, as FastAPI's own route arguments.

The body is read by the dependencies (http/contract.py) whatever its Content-Type, so FastAPI does
not see it as a parameter: `openapi_extra` gives its schema. The answer is `response_model` (the
success body or the error envelope, told apart by `status`); handlers return a ready `Response`,
so it documents and never validates at run time (list latency).
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, Field

from callreport.http.responses import LINKS, ErrorEnvelope

CREDENTIALS_SCHEMA = {
    "ssid": {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "description": "Session id from auth/login (not with userId/token).",
    },
    "userId": {"type": "string", "minLength": 1, "maxLength": 200, "description": "User id, with token."},
    "token": {"type": "string", "minLength": 1, "maxLength": 200, "description": "API token, with userId."},
}
ANSWER = "The envelope (HTTP 200 for every API outcome), or the file."


def _inline(node: Any, defs: dict) -> Any:
    """A schema with its `$defs` references replaced by the definitions (the parameter models nest no cycle)."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def body_schema(params: type[BaseModel], authenticated: bool) -> dict:
    """The JSON object an endpoint reads: its parameters, and the credentials when it needs them."""
    schema = params.model_json_schema()
    schema = _inline({k: v for k, v in schema.items() if k != "$defs"}, schema.get("$defs", {}))
    if authenticated:
        schema["properties"] = {**CREDENTIALS_SCHEMA, **schema.get("properties", {})}
    return schema


def documented(
    name: str,
    params: type[BaseModel],
    answer: type[BaseModel] | None = None,
    *,
    authenticated: bool = True,
    file_type: str | None = None,
) -> dict:
    """Keyword arguments of `router.post` for the endpoint `name` (its operationId, as links name it)."""
    model: Any = ErrorEnvelope
    if answer is not None:
        model = Annotated[Union[answer, ErrorEnvelope], Field(discriminator="status")]  # noqa: UP007
    doc: dict = {"description": ANSWER}
    if file_type is not None:
        doc["content"] = {file_type: {"schema": {"type": "string", "format": "binary"}}}
    if name in LINKS:
        doc["links"] = LINKS[name]
    request = {"required": True, "content": {"application/json": {"schema": body_schema(params, authenticated)}}}
    return {
        "operation_id": name,
        "response_model": model,
        "responses": {200: doc},
        "openapi_extra": {"requestBody": request},
    }
