"""json and json_schema scorers, fences and schema error paths."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.evals.scorers.scoring import grade

from steward.evals.scorers import JsonSchemaScorer, JsonScorer
from steward.evals.scorers.json import check_schema, parse_json_output

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "items"],
    "properties": {
        "name": {"type": "string"},
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}}},
        },
    },
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("output", "detail"),
    [
        ('{"a": 1}', "valid JSON object"),
        ("  [1, 2]\n", "valid JSON array"),
        ("3.5", "valid JSON number"),
        ("null", "valid JSON null"),
        ('```json\n{"a": 1}\n```', "valid JSON object (inside a ```json fence)"),
        ('```\n{"a": 1}\n```', "valid JSON object (inside a ```json fence)"),
    ],
)
def test_json_accepts_documents_and_notes_a_fence(output: str, detail: str) -> None:
    score = grade(JsonScorer(), output)

    assert (score.value, score.passed, score.detail) == (1.0, True, detail)


@pytest.mark.parametrize(
    "output", ["{'a': 1}", '{"a": 1,}', 'Sure! Here it is: {"a": 1}', "", '```json\n{"a":\n```']
)
def test_json_rejects_what_is_not_json(output: str) -> None:
    score = grade(JsonScorer(), output)

    assert (score.value, score.passed) == (0.0, False)
    assert score.detail is not None
    assert score.detail.startswith("not JSON: ")


def test_parse_json_output_reports_the_fence() -> None:
    assert parse_json_output('{"a": 1}').fenced is False
    assert parse_json_output('```JSON\n{"a": 1}\n```').fenced is True


def test_schema_valid_output_passes() -> None:
    scorer = JsonSchemaScorer(validator=check_schema(SCHEMA))

    score = grade(scorer, '{"name": "order", "items": [{"qty": 2}]}')

    assert (score.value, score.passed, score.detail) == (1.0, True, "valid against the schema")


def test_schema_errors_name_their_paths() -> None:
    scorer = JsonSchemaScorer(validator=check_schema(SCHEMA))

    score = grade(scorer, '{"name": 7, "items": [{"qty": 2}, {"qty": 0}]}')

    assert (score.value, score.passed) == (0.0, False)
    assert score.detail == (
        "$.items[1].qty: 0 is less than the minimum of 1; $.name: 7 is not of type 'string'"
    )


def test_schema_errors_beyond_three_are_counted() -> None:
    scorer = JsonSchemaScorer(validator=check_schema(SCHEMA))

    score = grade(scorer, '{"name": 1, "items": [{"qty": "a"}, {"qty": 0}], "x": 1, "y": 2}')

    assert score.detail is not None
    assert score.detail.startswith("$: Additional properties are not allowed")
    assert score.detail.endswith("; and 1 more")


def test_schema_scorer_rejects_output_that_is_not_json() -> None:
    score = grade(JsonSchemaScorer(validator=check_schema(SCHEMA)), "name: order")

    assert score.passed is False
    assert score.detail is not None
    assert score.detail.startswith("not JSON: ")


def test_schema_from_expected_schema_per_item() -> None:
    expected = {"schema": {"type": "array", "items": {"type": "integer"}}}

    passed = grade(JsonSchemaScorer(), "```json\n[1, 2, 3]\n```", expected=expected)
    failed = grade(JsonSchemaScorer(), '[1, "two"]', expected=expected)

    assert passed.detail == "valid against the schema (inside a ```json fence)"
    assert (failed.passed, failed.detail) == (False, "$[1]: 'two' is not of type 'integer'")


@pytest.mark.parametrize(
    ("expected", "detail"),
    [
        (
            {"type": "array"},
            "item 'item-1' has no schema: give json_schema:PATH or expected.schema",
        ),
        (None, "item 'item-1' has no schema: give json_schema:PATH or expected.schema"),
        (
            {"schema": {"type": "lots"}},
            "item 'item-1': invalid JSON schema at $.type: 'lots' is not valid under any of the given schemas",
        ),
    ],
)
def test_schema_missing_or_invalid_in_the_item_fails_that_item(
    expected: object, detail: str
) -> None:
    score = grade(JsonSchemaScorer(), "[]", expected=expected)

    assert (score.passed, score.detail) == (False, detail)


def test_check_schema_rejects_non_schemas() -> None:
    with pytest.raises(ValueError, match="a JSON schema is an object or a boolean, not list"):
        check_schema([1])
    with pytest.raises(ValueError, match=r"invalid JSON schema at \$\.minimum: 'x' is not of type"):
        check_schema({"minimum": "x"})
