"""Scorers by name: the spec grammar, the built-in scorers, plugins and `build_scorers`.

A spec is `NAME` or `NAME:ARGUMENT`, split at the first colon:

    exact, exact_ci               output == expected, stripped (_ci: ignoring case)
    contains[:TEXT], contains_ci  TEXT, else expected (a string or a list of strings), appears
    regex[:PATTERN]               re.search(PATTERN, output); PATTERN defaults to expected
    json                          the output is JSON (a ```json fence around it is tolerated)
    json_schema[:SCHEMA]          valid against SCHEMA: a JSON file's path or inline JSON;
                                  without it, each item's expected["schema"]
    numeric[:TOLERANCE]           first number in the output vs expected, within an
                                  absolute (0.01) or relative (1%) tolerance; exact if none
    semantic[:THRESHOLD]          MiniLM cosine similarity with expected, passes at THRESHOLD
                                  (0.8)
    judge:MODEL[:PASS]            MODEL grades 1-5 against the rubric, passes at PASS (4);
                                  a trailing `:N` of digits is PASS (1-5), not the model
    py:MODULE:FACTORY[:ARG]       FACTORY(ARG) from an importable module of your own
    PLUGIN[:ARG]                  a factory registered under the `steward.scorers` entry
                                  point group, called with ARG
"""

from __future__ import annotations

import difflib
import importlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from steward.errors import InvalidRequestError
from steward.evals.scorers.base import Scorer, ScorerFactory
from steward.evals.scorers.json import JsonSchemaScorer, JsonScorer, check_schema
from steward.evals.scorers.judge import DEFAULT_PASS_SCORE, DEFAULT_RUBRIC, Completer, JudgeScorer
from steward.evals.scorers.numeric import NumericScorer, parse_tolerance
from steward.evals.scorers.semantic import DEFAULT_SIMILARITY, Encoder, LazyEncoder, SemanticScorer
from steward.evals.scorers.text import ContainsScorer, ExactScorer, RegexScorer
from steward.evals.scorers.verdict import MAX_SCORE, MIN_SCORE

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["ENTRY_POINT_GROUP", "ScorerRegistry", "ScorerSpec", "build_scorers"]

ENTRY_POINT_GROUP = "steward.scorers"
_USAGE = {
    "exact": "exact",
    "exact_ci": "exact_ci",
    "contains": "contains[:TEXT]",
    "contains_ci": "contains_ci[:TEXT]",
    "regex": "regex[:PATTERN]",
    "json": "json",
    "json_schema": "json_schema[:PATH|JSON]",
    "numeric": "numeric[:TOLERANCE]",
    "semantic": "semantic[:THRESHOLD]",
    "judge": "judge:MODEL[:PASS]",
    "py": "py:MODULE:FACTORY[:ARG]",
}


@dataclass(frozen=True, slots=True)
class ScorerSpec:
    """One scorer as a run names it: `name`, and the text after the first colon, if any."""

    name: str
    argument: str | None = None

    @classmethod
    def parse(cls, text: str) -> ScorerSpec:
        name, colon, argument = text.strip().partition(":")
        if not name.strip():
            raise InvalidRequestError(
                f"scorer spec {text!r} has no name; write NAME or NAME:ARGUMENT, e.g. numeric:0.01",
                param="scorers",
            )
        return cls(name.strip(), argument if colon and argument else None)

    def __str__(self) -> str:
        return self.name if self.argument is None else f"{self.name}:{self.argument}"


def _spec_error(spec: ScorerSpec, problem: str) -> InvalidRequestError:
    return InvalidRequestError(f"scorer {str(spec)!r}: {problem}", param="scorers")


class ScorerRegistry:
    """Builds scorers from specs: the built-ins first, then plugins of `ENTRY_POINT_GROUP`.

    `entry_points` defaults to the installed packages' (read on first need); pass a list to
    choose them. A plugin cannot replace a built-in name. `judge` answers `judge:` scorers and
    `embedder` encodes for `semantic` ones; without one, a `LazyEncoder` is made and shared by
    this registry's semantic scorers.
    """

    def __init__(
        self,
        *,
        judge: Completer | None = None,
        embedder: Encoder | None = None,
        rubric: str = DEFAULT_RUBRIC,
        entry_points: Iterable[EntryPoint] | None = None,
    ) -> None:
        self._judge = judge
        self._embedder = embedder
        self._rubric = rubric
        self._entry_points = None if entry_points is None else list(entry_points)
        self._builtins: dict[str, Callable[[ScorerSpec], Scorer]] = {
            "exact": self._exact,
            "exact_ci": self._exact,
            "contains": self._contains,
            "contains_ci": self._contains,
            "regex": self._regex,
            "json": self._json,
            "json_schema": self._json_schema,
            "numeric": self._numeric,
            "semantic": self._semantic,
            "judge": self._judge_scorer,
            "py": self._python,
        }

    def build(self, spec: str | ScorerSpec) -> Scorer:
        parsed = spec if isinstance(spec, ScorerSpec) else ScorerSpec.parse(spec)
        builtin = self._builtins.get(parsed.name)
        if builtin is not None:
            return builtin(parsed)
        plugin = self._plugins().get(parsed.name)
        if plugin is None:
            raise self._unknown(parsed)
        factory = _load_plugin(parsed, plugin)
        return _checked(parsed, _call_factory(parsed, factory, parsed.argument))

    def known(self) -> list[str]:
        """Every scorer name with its argument syntax, built-ins first, then plugins."""
        plugins = sorted(name for name in self._plugins() if name not in self._builtins)
        return [*_USAGE.values(), *(f"{name}[:ARG]" for name in plugins)]

    def _plugins(self) -> dict[str, EntryPoint]:
        if self._entry_points is None:
            from importlib.metadata import entry_points

            self._entry_points = list(entry_points(group=ENTRY_POINT_GROUP))
        return {ep.name: ep for ep in self._entry_points if ep.name not in self._builtins}

    def _unknown(self, spec: ScorerSpec) -> InvalidRequestError:
        names = [*self._builtins, *self._plugins()]
        close = difflib.get_close_matches(spec.name, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return _spec_error(
            spec, f"unknown scorer {spec.name!r}{hint}; known scorers: {', '.join(self.known())}"
        )

    def _exact(self, spec: ScorerSpec) -> Scorer:
        _no_argument(spec)
        return ExactScorer(name=str(spec), ignore_case=spec.name.endswith("_ci"))

    def _contains(self, spec: ScorerSpec) -> Scorer:
        ci = spec.name.endswith("_ci")
        return ContainsScorer(name=str(spec), needle=spec.argument, ignore_case=ci)

    def _regex(self, spec: ScorerSpec) -> Scorer:
        if spec.argument is None:
            return RegexScorer(name=str(spec))
        try:
            return RegexScorer(name=str(spec), pattern=re.compile(spec.argument))
        except re.error as exc:
            raise _spec_error(spec, f"invalid regular expression: {exc}") from None

    def _json(self, spec: ScorerSpec) -> Scorer:
        _no_argument(spec)
        return JsonScorer(name=str(spec))

    def _json_schema(self, spec: ScorerSpec) -> Scorer:
        if spec.argument is None:
            return JsonSchemaScorer(name=str(spec))
        try:
            validator = check_schema(_schema_argument(spec.argument))
        except ValueError as exc:
            raise _spec_error(spec, str(exc)) from None
        return JsonSchemaScorer(name=str(spec), validator=validator)

    def _numeric(self, spec: ScorerSpec) -> Scorer:
        try:
            return NumericScorer(name=str(spec), tolerance=parse_tolerance(spec.argument))
        except ValueError as exc:
            raise _spec_error(spec, str(exc)) from None

    def _semantic(self, spec: ScorerSpec) -> Scorer:
        threshold = _threshold(spec)
        if self._embedder is None:
            self._embedder = LazyEncoder()
        return SemanticScorer(name=str(spec), encoder=self._embedder, threshold=threshold)

    def _judge_scorer(self, spec: ScorerSpec) -> Scorer:
        if not spec.argument:
            raise _spec_error(spec, "name the judge model: judge:MODEL or judge:MODEL:PASS")
        if self._judge is None:
            raise _spec_error(
                spec, "judge scorers call a gateway model; pass a Completer as judge="
            )
        model, pass_score = spec.argument, DEFAULT_PASS_SCORE
        head, colon, tail = spec.argument.rpartition(":")
        if colon and head and tail.isdigit():
            model, pass_score = head, int(tail)
            if not MIN_SCORE <= pass_score <= MAX_SCORE:
                raise _spec_error(spec, f"the pass score is {MIN_SCORE} to {MAX_SCORE}")
        return JudgeScorer(
            name=str(spec),
            model=model,
            completer=self._judge,
            rubric=self._rubric,
            pass_score=pass_score,
        )

    def _python(self, spec: ScorerSpec) -> Scorer:
        module_name, colon, rest = (spec.argument or "").partition(":")
        attribute, _, argument = rest.partition(":")
        if not (module_name and colon and attribute):
            raise _spec_error(spec, "write py:MODULE:FACTORY, e.g. py:myproject.scoring:tone")
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except ImportError as exc:
            raise _spec_error(spec, f"cannot import {module_name!r}: {exc}") from None
        except AttributeError:
            raise _spec_error(spec, f"module {module_name!r} has no {attribute!r}") from None
        return _checked(spec, _call_factory(spec, factory, argument or None))


def _threshold(spec: ScorerSpec) -> float:
    if spec.argument is None:
        return DEFAULT_SIMILARITY
    try:
        threshold = float(spec.argument)
    except ValueError:
        threshold = -1.0
    if not 0.0 <= threshold <= 1.0:
        raise _spec_error(spec, "the threshold is a cosine similarity from 0 to 1, e.g. 0.8")
    return threshold


def _no_argument(spec: ScorerSpec) -> None:
    if spec.argument is not None:
        raise _spec_error(spec, f"{spec.name} takes no argument; write {spec.name}")


def _schema_argument(argument: str) -> object:
    """Inline JSON when the argument looks like it (`{...}`, true, false), else a file's path."""
    text = argument.strip()
    if text.startswith("{") or text in ("true", "false"):
        source, label = text, "inline JSON schema"
    else:
        path = Path(text).expanduser()
        try:
            source, label = path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise ValueError(f"cannot read the schema file {str(path)!r}: {exc.strerror}") from None
    try:
        schema: object = json.loads(source)
    except ValueError as exc:
        raise ValueError(f"{label} is not JSON: {exc}") from None
    return schema


def _load_plugin(spec: ScorerSpec, entry_point: EntryPoint) -> object:
    try:
        return entry_point.load()
    except Exception as exc:  # any error of third-party code, reported as the spec's
        raise _spec_error(spec, f"plugin {entry_point.value!r} failed to load: {exc!r}") from exc


def _call_factory(spec: ScorerSpec, factory: object, argument: str | None) -> object:
    if not callable(factory):
        raise _spec_error(spec, f"{factory!r} is not a scorer factory (argument -> Scorer)")
    typed: ScorerFactory = factory
    try:
        return typed(argument)
    except InvalidRequestError:
        raise
    except Exception as exc:  # a factory refusing its argument is the spec's problem
        raise _spec_error(spec, f"the factory refused it: {exc!r}") from exc


def _checked(spec: ScorerSpec, scorer: object) -> Scorer:
    if not isinstance(getattr(scorer, "name", None), str) or not callable(
        getattr(scorer, "score", None)
    ):
        raise _spec_error(spec, f"the factory returned {scorer!r}, not a Scorer (name, score)")
    checked: Scorer = scorer  # type: ignore[assignment]  # checked structurally just above
    return checked


def build_scorers(
    specs: Sequence[str],
    *,
    judge: Completer | None = None,
    embedder: Encoder | None = None,
    rubric: str = DEFAULT_RUBRIC,
    entry_points: Iterable[EntryPoint] | None = None,
) -> list[Scorer]:
    """The scorers a run names, in order; InvalidRequestError saying what to fix otherwise."""
    registry = ScorerRegistry(
        judge=judge, embedder=embedder, rubric=rubric, entry_points=entry_points
    )
    scorers = [registry.build(spec) for spec in specs]
    seen: set[str] = set()
    for scorer in scorers:
        if scorer.name in seen:
            raise InvalidRequestError(
                f"two scorers are named {scorer.name!r}; each may appear once", param="scorers"
            )
        seen.add(scorer.name)
    return scorers
