"""The OpenAPI 3.1 document of the admin API, generated from the endpoint table."""

from __future__ import annotations

import functools
import re
from typing import Any

from steward import __version__
from steward.server.admin.endpoints import ENDPOINTS, Endpoint

_ERROR = {"$ref": "#/components/schemas/Error"}
_STATUS_TEXT = {
    401: "No or invalid key",
    403: "The key's role may not do this",
    404: "No such resource in the caller's scope",
    400: "Invalid request",
}


@functools.cache
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": _error_schema()}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Steward admin API", "version": __version__},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def _operation(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    params = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
        for n in re.findall(r"{(\w+)}", endpoint.path)
    ] + [{"name": n, "in": "query", "schema": {"type": "string"}} for n in endpoint.query]
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": _operation_id(endpoint),
        "tags": [endpoint.tag] if endpoint.tag else [],
        "x-permission": endpoint.permission,
        "parameters": params,
        "responses": {
            str(endpoint.status): {"description": "OK", "content": {"application/json": {}}},
            **{
                str(code): {
                    "description": text,
                    "content": {"application/json": {"schema": _ERROR}},
                }
                for code, text in _STATUS_TEXT.items()
            },
        },
    }
    if endpoint.body is not None:
        name = endpoint.body.__name__
        schemas[name] = endpoint.body.model_json_schema(ref_template="#/components/schemas/{model}")
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    return operation


def _operation_id(endpoint: Endpoint) -> str:
    words = [w for w in re.sub(r"{\w+}", "one", endpoint.path).split("/") if w and w != "api"]
    return endpoint.method.lower() + "_" + "_".join(words)


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                },
                "required": ["message", "type"],
            }
        },
        "required": ["error"],
    }
