"""`PromptClient`: fetch prompt versions from a gateway for apps that render prompts themselves.

Fetched prompts are cached per (name, label or version). A cached prompt younger than `ttl_s`
is returned as it is; an older one is still returned at once (stale-while-revalidate) while one
background thread fetches a fresh copy; only a prompt never fetched waits for the network. If
the gateway cannot be reached, the stale copy keeps serving for up to `max_stale_s`.
Synchronous and standard-library only, so any app can use it.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from steward.errors import NotFoundError, ProviderError
from steward.prompts.definition import PromptDefinition
from steward.prompts.template import CompiledPrompt, template_environment

__all__ = ["FetchedPrompt", "PromptClient"]


@dataclass(frozen=True, slots=True)
class FetchedPrompt:
    """One prompt version as the gateway served it; `render` fills its templates locally."""

    name: str
    version: int
    digest: str
    compiled: CompiledPrompt

    @property
    def definition(self) -> PromptDefinition:
        return self.compiled.definition

    @property
    def model(self) -> str:
        return self.compiled.definition.model

    def render(self, **variables: Any) -> list[dict[str, Any]]:
        return self.compiled.render(variables)

    def request(self, **variables: Any) -> dict[str, Any]:
        """A chat-completions body: the prompt's model, parameters and rendered messages."""
        params = dict(self.compiled.definition.params)
        return {**params, "model": self.model, "messages": self.render(**variables)}


@dataclass(slots=True)
class _Entry:
    prompt: FetchedPrompt
    fetched_at: float
    refreshing: bool = False


@dataclass(slots=True)
class PromptClient:
    base_url: str
    api_key: str
    ttl_s: float = 60.0
    max_stale_s: float = 3600.0
    timeout_s: float = 5.0
    _entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(
        self, name: str, *, label: str | None = None, version: int | None = None
    ) -> FetchedPrompt:
        key = (name, f"v{version}" if version is not None else (label or ""))
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry.fetched_at < self.ttl_s:
                return entry.prompt
            if entry is not None and now - entry.fetched_at < self.ttl_s + self.max_stale_s:
                if not entry.refreshing:
                    entry.refreshing = True
                    threading.Thread(
                        target=self._refresh, args=(key, name, label, version), daemon=True
                    ).start()
                return entry.prompt
        prompt = self._fetch(name, label, version)
        with self._lock:
            self._entries[key] = _Entry(prompt, time.monotonic())
        return prompt

    def _refresh(
        self, key: tuple[str, str], name: str, label: str | None, version: int | None
    ) -> None:
        try:
            prompt = self._fetch(name, label, version)
        except (ProviderError, NotFoundError):
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    entry.refreshing = False  # keep serving the stale copy; retry on next get
            return
        with self._lock:
            self._entries[key] = _Entry(prompt, time.monotonic())

    def _fetch(self, name: str, label: str | None, version: int | None) -> FetchedPrompt:
        query = {"label": label} if label else {"version": str(version)} if version else {}
        url = (
            self.base_url.rstrip("/").removesuffix("/v1")
            + "/v1/prompts/"
            + urllib.parse.quote(name, safe="")
            + ("?" + urllib.parse.urlencode(query) if query else "")
        )
        request = urllib.request.Request(url, headers={"authorization": f"Bearer {self.api_key}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                data = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            message = _message(exc.read())
            if exc.code == 404:
                raise NotFoundError(message) from None
            raise ProviderError(f"The gateway answered HTTP {exc.code}: {message}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ProviderError(f"Cannot fetch prompt {name!r} from {url}: {exc}.") from None
        fields = {k: v for k, v in data.items() if k in PromptDefinition.model_fields}
        definition = PromptDefinition.model_validate({**fields, "name": data["name"]})
        compiled = CompiledPrompt.compile(definition, int(data["version"]), template_environment())
        return FetchedPrompt(data["name"], int(data["version"]), str(data["digest"]), compiled)


def _message(raw: bytes) -> str:
    try:
        return str(json.loads(raw)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return raw[:200].decode("utf-8", "replace") or "no details"
