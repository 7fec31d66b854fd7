"""`GET /v1/prompts/{name}`: a prompt version for apps that render it themselves (the SDK's
`PromptClient`), served from the in-memory prompt book with any caller's key."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from steward.errors import InvalidRequestError, StewardError
from steward.pipeline.stages.auth import authenticate
from steward.prompts.refs import PromptRef
from steward.prompts.template import CompiledPrompt
from steward.runtime import Runtime
from steward.server.errors import error_response
from steward.server.routes import credential

__all__ = ["prompt_routes"]


def prompt_routes() -> list[Route]:
    return [Route("/v1/prompts/{name}", get_prompt, methods=["GET"])]


async def get_prompt(request: Request) -> Response:
    """`?label=staging` or `?version=3`; neither: `production`, else the latest version."""
    runtime: Runtime = request.app.state.runtime
    try:
        authenticate(runtime.keyring, credential(request), required=runtime.config.auth.required)
        compiled = runtime.prompts.resolve(_ref(request))
    except StewardError as exc:
        return error_response(exc)
    digest = compiled.definition.digest()
    headers = {"etag": f'"{digest}"', "cache-control": "no-cache"}
    if request.headers.get("if-none-match") == headers["etag"]:
        return Response(status_code=304, headers=headers)
    return Response(
        orjson.dumps(body(compiled, digest)), media_type="application/json", headers=headers
    )


def body(compiled: CompiledPrompt, digest: str) -> dict[str, object]:
    definition = compiled.definition
    return {
        "object": "prompt",
        "name": definition.name,
        "version": compiled.version,
        "digest": digest,
        **definition.model_dump(mode="json", exclude={"name"}),
    }


def _ref(request: Request) -> PromptRef:
    name = request.path_params["name"]
    label = request.query_params.get("label")
    version = request.query_params.get("version")
    if version is not None and not version.isdigit():
        raise InvalidRequestError("`version` must be a positive whole number.", param="version")
    if version is not None and label is not None:
        raise InvalidRequestError("Send `label` or `version`, not both.", param="label")
    return PromptRef(name, version=int(version) if version else None, label=label)
