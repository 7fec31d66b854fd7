"""The prompt book: every stored prompt version, compiled, and every label, in memory.

The gateway resolves `prompt:` models here without touching the database; a background
refresher reloads it (only versions it has not seen: versions never change), so a pushed
version or a moved label reaches every replica within `[auth] refresh_interval_s`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog
from sqlalchemy.engine import Engine

from steward.errors import ConfigError, NotFoundError
from steward.prompts.refs import DEFAULT_LABEL, PromptRef
from steward.prompts.template import CompiledPrompt, template_environment
from steward.storage import prompts as store

__all__ = ["PromptBook"]

log = structlog.get_logger("steward.prompts")


@dataclass(frozen=True, slots=True)
class _Snapshot:
    versions: Mapping[str, Mapping[int, CompiledPrompt]] = field(default_factory=dict)
    labels: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


class PromptBook:
    def __init__(self, engine: Engine | None = None) -> None:
        """With no engine the book stays empty (benchmarks, tests of other stages)."""
        self._engine = engine
        self._env = template_environment()
        self._snapshot = _Snapshot()
        self.broken: dict[str, str] = {}
        """Versions that are stored but do not compile, with the reason."""

    def reload(self) -> None:
        """Read new versions and all labels; swap the whole view at once (readers never see a
        half-loaded book). StorageError propagates to the refresher, which keeps the old view."""
        if self._engine is None:
            return
        current = self._snapshot
        known = [(name, v) for name, versions in current.versions.items() for v in versions]
        new, present = store.load_versions(self._engine, known)
        labels = store.label_snapshot(self._engine)
        keep = set(present)
        versions: dict[str, dict[int, CompiledPrompt]] = {}
        for name, by_version in current.versions.items():
            for version, compiled in by_version.items():
                if (name, version) in keep:
                    versions.setdefault(name, {})[version] = compiled
        for stored in new:
            try:
                compiled = CompiledPrompt.compile(stored.definition, stored.version, self._env)
            except ConfigError as exc:
                self.broken[f"{stored.name}@{stored.version}"] = exc.message
                log.warning("prompts.version_broken", prompt=stored.name, error=exc.message)
                continue
            versions.setdefault(stored.name, {})[stored.version] = compiled
        self._snapshot = _Snapshot(versions=versions, labels=labels)

    def resolve(self, ref: PromptRef) -> CompiledPrompt:
        """The version a ref names; errors say which prompts, labels or versions exist."""
        snapshot = self._snapshot
        versions = snapshot.versions.get(ref.name)
        if not versions:
            raise NotFoundError(
                f"There is no prompt named {ref.name!r}; push it with `steward prompts push` "
                "(a new prompt reaches the gateway within seconds).",
                param="model",
            )
        labels = snapshot.labels.get(ref.name, {})
        version = self._version(ref, versions, labels)
        compiled = versions.get(version)
        if compiled is None:
            reason = self.broken.get(f"{ref.name}@{version}")
            raise NotFoundError(
                f"Prompt {ref.name!r} has no usable version {version}"
                + (f" ({reason})" if reason else f"; it has versions {_span(versions)}")
                + ".",
                param="model",
            )
        return compiled

    def _version(
        self, ref: PromptRef, versions: Mapping[int, CompiledPrompt], labels: Mapping[str, int]
    ) -> int:
        if ref.version is not None:
            return ref.version
        if ref.label is not None:
            if ref.label not in labels:
                shown = ", ".join(sorted(labels)) or "none"
                raise NotFoundError(
                    f"Prompt {ref.name!r} has no label {ref.label!r} (labels: {shown}).",
                    param="model",
                )
            return labels[ref.label]
        return labels.get(DEFAULT_LABEL, max(versions))

    def names(self) -> list[str]:
        return sorted(self._snapshot.versions)


def _span(versions: Mapping[int, object]) -> str:
    ordered = sorted(versions)
    return f"{ordered[0]} to {ordered[-1]}" if len(ordered) > 1 else str(ordered[0])
