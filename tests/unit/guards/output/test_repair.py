"""The JSON repair table: each common defect, and text no repair can save."""

from __future__ import annotations

import pytest

from steward.guards.output.repair import repair_json

CASES = [
    ('{"a": 1}', {"a": 1}, ()),
    ('```json\n{"a": 1}\n```', {"a": 1}, ("fence",)),
    ("```\n[1, 2]\n```", [1, 2], ("fence",)),
    ('Sure! {"a": 1} Hope that helps.', {"a": 1}, ("prose",)),
    ('{"a": [1, 2,],}', {"a": [1, 2]}, ("trailing_comma",)),
    ("{'a': 'it\\'s'}", {"a": "it's"}, ("single_quotes",)),
    (
        '{"a": True, "b": False, "c": None}',
        {"a": True, "b": False, "c": None},
        ("python_literals",),
    ),
    ('{"a": "cut', {"a": "cut"}, ("truncation",)),
    ('{"a": [1, {"b": 2', {"a": [1, {"b": 2}]}, ("truncation",)),
    ('{"a": 1, "b', {"a": 1, "b": None}, ("truncation",)),
    ('{"a": 1, "b":', {"a": 1, "b": None}, ("truncation",)),
    ('{"a": 1,', {"a": 1}, ("truncation",)),
    ('Here:\n```json\n{"a": 1,}\n```', {"a": 1}, ("fence", "trailing_comma")),
]


@pytest.mark.parametrize(("text", "value", "fixes"), CASES)
def test_common_defects_are_repaired(text: str, value: object, fixes: tuple[str, ...]) -> None:
    repaired = repair_json(text)
    assert repaired is not None
    assert repaired.value == value
    assert repaired.fixes == fixes


@pytest.mark.parametrize("text", ["no json here", "", "{a: 1}"])
def test_what_cannot_be_repaired_is_none(text: str) -> None:
    assert repair_json(text) is None
