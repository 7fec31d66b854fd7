"""Scorer specs: parsing, building every built-in, errors that say what to fix, plugins."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from tests.unit.evals.scorers.custom_scorer import LengthScorer
from tests.unit.evals.scorers.scoring import grade

from steward.errors import InvalidRequestError
from steward.evals.scorers import (
    ENTRY_POINT_GROUP,
    ContainsScorer,
    ExactScorer,
    JsonSchemaScorer,
    JudgeScorer,
    LazyEncoder,
    NumericScorer,
    RegexScorer,
    ScorerRegistry,
    ScorerSpec,
    SemanticScorer,
    Tolerance,
    build_scorers,
)

CUSTOM = "tests.unit.evals.scorers.custom_scorer"


async def no_judge(model: str, messages: list[dict[str, object]]) -> str:
    raise AssertionError("building a scorer must not call the judge")


def plugin(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def build(spec: str, *entry_points: EntryPoint) -> object:
    [scorer] = build_scorers([spec], judge=no_judge, entry_points=entry_points)
    return scorer


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("exact", ScorerSpec("exact")),
        (" numeric:1% ", ScorerSpec("numeric", "1%")),
        (r"regex:^\d+:\d+$", ScorerSpec("regex", r"^\d+:\d+$")),
        ("judge:gpt:3", ScorerSpec("judge", "gpt:3")),
        ("contains:", ScorerSpec("contains")),
    ],
)
def test_spec_splits_at_the_first_colon(text: str, spec: ScorerSpec) -> None:
    assert ScorerSpec.parse(text) == spec


def test_spec_round_trips_as_the_scorer_name() -> None:
    names = [s.name for s in build_scorers(["exact_ci", "numeric:0.5", r"regex:^\d+$"])]

    assert names == ["exact_ci", "numeric:0.5", r"regex:^\d+$"]


def test_builds_each_builtin_with_its_argument() -> None:
    assert build("exact") == ExactScorer(name="exact")
    assert build("exact_ci") == ExactScorer(name="exact_ci", ignore_case=True)
    assert build("contains_ci:Foo") == ContainsScorer(
        name="contains_ci:Foo", needle="Foo", ignore_case=True
    )
    assert build("numeric:1%") == NumericScorer(
        name="numeric:1%", tolerance=Tolerance(0.01, relative=True)
    )
    regex = build(r"regex:^\d+$")
    assert isinstance(regex, RegexScorer)
    assert regex.pattern is not None
    assert regex.pattern.pattern == r"^\d+$"
    assert build("regex") == RegexScorer(name="regex")


def test_judge_spec_names_the_model_and_an_optional_pass_score() -> None:
    default, strict, colon = (build(s) for s in ["judge:gpt", "judge:gpt:5", "judge:llama3:8b"])

    assert isinstance(default, JudgeScorer)
    assert (default.model, default.pass_score, default.completer) == ("gpt", 4, no_judge)
    assert isinstance(strict, JudgeScorer)
    assert (strict.model, strict.pass_score) == ("gpt", 5)
    assert isinstance(colon, JudgeScorer)
    assert (colon.model, colon.pass_score) == ("llama3:8b", 4)


def test_judge_rubric_is_passed_through() -> None:
    [scorer] = build_scorers(["judge:gpt"], judge=no_judge, rubric="5: polite")

    assert isinstance(scorer, JudgeScorer)
    assert scorer.rubric == "5: polite"


def test_semantic_scorers_share_one_lazy_encoder_that_has_not_loaded() -> None:
    first, second = build_scorers(["semantic", "semantic:0.6"])

    assert isinstance(first, SemanticScorer)
    assert isinstance(second, SemanticScorer)
    assert (first.threshold, second.threshold) == (0.8, 0.6)
    assert first.encoder is second.encoder
    assert isinstance(first.encoder, LazyEncoder)
    assert first.encoder.loaded is False


def test_semantic_uses_the_embedder_it_is_given() -> None:
    embedder = LazyEncoder()

    [scorer] = build_scorers(["semantic"], embedder=embedder)

    assert isinstance(scorer, SemanticScorer)
    assert scorer.encoder is embedder


def test_json_schema_from_a_file_and_inline(tmp_path: Path) -> None:
    schema = {"type": "object", "required": ["id"]}
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema), encoding="utf-8")

    for spec in (f"json_schema:{path}", f"json_schema:{json.dumps(schema)}"):
        scorer = build(spec)
        assert isinstance(scorer, JsonSchemaScorer)
        assert grade(scorer, '{"id": 1}').passed is True
        assert grade(scorer, "{}").detail == "$: 'id' is a required property"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "exakt",
            "scorer 'exakt': unknown scorer 'exakt' (did you mean 'exact'?); known scorers: exact, exact_ci, contains[:TEXT]",
        ),
        ("", "scorer spec '' has no name; write NAME or NAME:ARGUMENT"),
        ("exact:x", "scorer 'exact:x': exact takes no argument; write exact"),
        (
            "regex:(",
            "scorer 'regex:(': invalid regular expression: missing ), unterminated subpattern",
        ),
        (
            "numeric:lots",
            "scorer 'numeric:lots': tolerance 'lots' is not a number such as 0.01 or 1%",
        ),
        ("semantic:2", "scorer 'semantic:2': the threshold is a cosine similarity from 0 to 1"),
        ("judge", "scorer 'judge': name the judge model: judge:MODEL or judge:MODEL:PASS"),
        ("judge:gpt:9", "scorer 'judge:gpt:9': the pass score is 1 to 5"),
        (
            "json_schema:/no/such.json",
            "scorer 'json_schema:/no/such.json': cannot read the schema file '/no/such.json'",
        ),
        ("json_schema:{bad", "scorer 'json_schema:{bad': inline JSON schema is not JSON"),
        (
            'json_schema:{"type": 3}',
            "invalid JSON schema at $.type: 3 is not valid under any of the given schemas",
        ),
        ("py:nomodule", "write py:MODULE:FACTORY, e.g. py:myproject.scoring:tone"),
        ("py:steward_no_such_module:f", "cannot import 'steward_no_such_module'"),
        (f"py:{CUSTOM}:missing", f"module '{CUSTOM}' has no 'missing'"),
        (f"py:{CUSTOM}:not_a_factory", "42 is not a scorer factory (argument -> Scorer)"),
        (f"py:{CUSTOM}:refusing:7", "the factory refused it: ValueError(\"refusing '7'\")"),
    ],
)
def test_bad_specs_say_what_to_fix(spec: str, message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        build(spec)

    assert message in caught.value.message
    assert (caught.value.param, caught.value.http_status) == ("scorers", 400)


def test_unknown_scorer_lists_every_known_one_with_plugins() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        build("nope", plugin("length", f"{CUSTOM}:length"))

    assert caught.value.message == (
        "scorer 'nope': unknown scorer 'nope'; known scorers: exact, exact_ci, contains[:TEXT], "
        "contains_ci[:TEXT], regex[:PATTERN], json, json_schema[:PATH|JSON], "
        "numeric[:TOLERANCE], semantic[:THRESHOLD], judge:MODEL[:PASS], "
        "py:MODULE:FACTORY[:ARG], length[:ARG]"
    )


def test_judge_needs_a_completer() -> None:
    with pytest.raises(InvalidRequestError, match="pass a Completer as judge="):
        build_scorers(["judge:gpt"])


def test_the_same_scorer_twice_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="two scorers are named 'exact'"):
        build_scorers(["exact", " exact "])


def test_py_spec_loads_a_factory_from_user_code() -> None:
    default = build(f"py:{CUSTOM}:length")
    five = build(f"py:{CUSTOM}:length:5")

    assert default == LengthScorer(limit=10, name="length:10")
    assert five == LengthScorer(limit=5, name="length:5")
    assert grade(five, "short").passed is True
    assert grade(five, "too long").passed is False


def test_entry_point_plugin_gets_the_spec_argument() -> None:
    scorer = build("length:3", plugin("length", f"{CUSTOM}:length"))

    assert scorer == LengthScorer(limit=3, name="length:3")


def test_a_plugin_cannot_replace_a_builtin() -> None:
    registry = ScorerRegistry(entry_points=[plugin("exact", f"{CUSTOM}:length")])

    assert registry.build("exact") == ExactScorer()
    assert "exact[:ARG]" not in registry.known()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "steward_no_such_module:f",
            "plugin 'steward_no_such_module:f' failed to load: ModuleNotFoundError",
        ),
        (f"{CUSTOM}:not_a_factory", "42 is not a scorer factory"),
    ],
)
def test_broken_plugins_are_reported_against_their_spec(value: str, message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        build("broken", plugin("broken", value))

    assert caught.value.message.startswith("scorer 'broken': ")
    assert message in caught.value.message


def test_a_factory_that_returns_no_scorer_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="the factory returned 'None', not a Scorer"):
        build("plain", plugin("plain", "builtins:str"))


def test_installed_entry_points_are_read_when_none_are_given() -> None:
    registry = ScorerRegistry()

    known = registry.known()
    assert known[:11] == [
        "exact",
        "exact_ci",
        "contains[:TEXT]",
        "contains_ci[:TEXT]",
        "regex[:PATTERN]",
        "json",
        "json_schema[:PATH|JSON]",
        "numeric[:TOLERANCE]",
        "semantic[:THRESHOLD]",
        "judge:MODEL[:PASS]",
        "py:MODULE:FACTORY[:ARG]",
    ]
    assert all(name.endswith("[:ARG]") for name in known[11:])
    assert registry.build("json").name == "json"
