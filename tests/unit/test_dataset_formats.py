"""Dataset files: JSONL and CSV parsing with line-numbered errors, round trips, refs, corrections,
and items made from captured payloads."""

from __future__ import annotations

from pathlib import Path

import pytest

from steward.errors import InvalidRequestError
from steward.evals import datasets as fmt
from steward.evals.from_records import item_from_payload
from steward.evals.results import Item

ITEMS = [
    Item("q1", variables={"question": "2+2?", "tone": "dry"}, expected="4", tags=("math",)),
    Item("q2", variables={"question": 'Ünïcode, "quotes"\nand lines', "tone": ""}),
    Item("q3", variables={"question": "x", "tone": "y"}, expected="a;b", tags=("t1", "t 2")),
]
CHAT = [
    Item(
        "c1",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    ),
    Item("c2", messages=[{"role": "user", "content": "Bye"}], expected="Bye!", tags=("x",)),
]


def problems(excinfo: pytest.ExceptionInfo[InvalidRequestError]) -> str:
    return excinfo.value.message


# -- refs and names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("support", ("support", None)),
        ("support@3", ("support", 3)),
        ("support@latest", ("support", None)),
        ("a.b_c-1@12", ("a.b_c-1", 12)),
    ],
)
def test_parse_ref(ref: str, parsed: tuple[str, int | None]) -> None:
    assert fmt.parse_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["support@0", "support@x", "support@", "support@1@2", "@3", "a b"])
def test_parse_ref_refuses_what_is_not_a_ref(ref: str) -> None:
    with pytest.raises(InvalidRequestError):
        fmt.parse_ref(ref)


def test_a_bad_version_says_how_to_write_one() -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        fmt.parse_ref("support@v2")
    assert "`support@3`" in problems(excinfo) and "`support` for the latest" in problems(excinfo)


@pytest.mark.parametrize("name", ["", "-x", ".x", "a/b", "a@b", "x" * 201, "naïve"])
def test_check_name_refuses(name: str) -> None:
    with pytest.raises(InvalidRequestError, match="not a dataset name"):
        fmt.check_name(name)


# -- JSON Lines --------------------------------------------------------------------------------


def test_jsonl_round_trip_keeps_every_item_exactly() -> None:
    items = [
        *ITEMS,
        *CHAT,
        Item("n", variables={"n": 3, "deep": {"a": [1, None]}}, expected={"k": 1}),
    ]
    assert fmt.parse_jsonl(fmt.render_jsonl(items)) == items


def test_jsonl_generates_stable_ids_from_the_input_only() -> None:
    text = '{"variables": {"b": 1, "a": "x"}, "expected": "one"}\n\n{"messages": [{"role": "user", "content": "hi"}]}\n'
    first, second = fmt.parse_jsonl(text)
    assert first.id == fmt.content_id(variables={"a": "x", "b": 1})
    assert len(first.id) == 16
    # Key order and the expected output do not change the id.
    again = fmt.parse_jsonl('{"expected": "two", "variables": {"a": "x", "b": 1}}')
    assert again[0].id == first.id
    assert second.id == fmt.content_id(messages=[{"role": "user", "content": "hi"}])
    assert second.id != first.id


def test_jsonl_splits_on_newlines_only() -> None:
    (item,) = fmt.parse_jsonl('{"id": "a", "variables": {"q": "x\u2028y\u0085z"}}\r\n')
    assert item.variables == {"q": "x\u2028y\u0085z"}


def test_jsonl_reports_every_problem_with_its_line() -> None:
    text = "\n".join(
        [
            '{"id": "a", "variables": {"q": "1"}}',
            '{"id": "b", "variables": {"q": "2"}, "expect": "typo"}',
            "not json",
            '{"id": "a", "variables": {"q": "3"}}',
            '{"variables": {"q": "1"}, "messages": [{"role": "user"}]}',
            '{"id": "c"}',
            '{"id": 7, "variables": {}}',
            '{"id": "d", "messages": []}',
            '{"id": "e", "messages": [{"content": "no role"}]}',
            '{"id": "f", "variables": {}, "tags": ["ok", "no;semicolons"]}',
            '{"id": "g", "variables": []}',
            "[1, 2]",
        ]
    )
    with pytest.raises(InvalidRequestError) as excinfo:
        fmt.parse_jsonl(text, source="items.jsonl")
    message = problems(excinfo)
    assert message.startswith("items.jsonl: 11 problems\n")
    expected = [
        "line 2: unknown key 'expect'",
        "line 3: not JSON",
        "line 4: id 'a' is already on line 1",
        "line 5: an item has exactly one of `variables`",
        "line 6: an item has exactly one of",
        "line 7: `id` must be a non-empty string",
        "line 8: `messages` must be a non-empty list",
        'line 9: `messages[0]` must be an object with a "role"',
        "line 10: tag 'no;semicolons'",
        "line 11: `variables` must be an object, not a list",
        "line 12: an item is a JSON object, not a list",
    ]
    for fragment in expected:
        assert fragment in message, fragment


def test_jsonl_one_problem_is_one_line() -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        fmt.parse_jsonl(
            '{"variables": {"q": 1}}\n{"variables": {"q": 1}, "expected": 2}', source="f"
        )
    assert problems(excinfo) == (
        "f line 2: the same input as line 1; give one an `id` or remove it"
    )


def test_jsonl_caps_the_list_of_problems() -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        fmt.parse_jsonl("x\n" * 30)
    assert "30 problems" in problems(excinfo) and "... and 10 more" in problems(excinfo)


def test_an_empty_file_holds_no_items() -> None:
    with pytest.raises(InvalidRequestError, match="holds no items"):
        fmt.parse_jsonl("\n\n", source="empty.jsonl")


# -- CSV ---------------------------------------------------------------------------------------


def test_csv_reads_variables_tags_ids_and_expected() -> None:
    text = (
        "id,question,expected,tags,tone\n"
        "q1,What?,It,a; b ;,dry\n"
        ',"Two\nlines",,,\n'
        "\n"
        "q3,x,,solo,wet\n"
    )
    first, second, third = fmt.parse_csv(text)
    assert first == Item("q1", {"question": "What?", "tone": "dry"}, None, "It", ("a", "b"))
    assert second.variables == {"question": "Two\nlines", "tone": ""}
    assert second.id == fmt.content_id(variables={"question": "Two\nlines", "tone": ""})
    assert second.expected is None and second.tags == ()
    assert third.tags == ("solo",)


def test_csv_messages_column_holds_json() -> None:
    text = 'id,messages,expected\nc1,"[{""role"": ""user"", ""content"": ""Hi""}]",Hello\n'
    (item,) = fmt.parse_csv(text)
    assert item.messages == [{"role": "user", "content": "Hi"}] and item.variables is None
    assert item.expected == "Hello"


def test_csv_round_trip_of_text_items() -> None:
    assert fmt.parse_csv(fmt.render_csv(ITEMS)) == ITEMS
    assert fmt.parse_csv(fmt.render_csv(CHAT)) == CHAT


def test_csv_row_problems_name_the_line_where_the_row_starts() -> None:
    text = 'id,q,expected\na,"spans\ntwo lines",x\nb,too,many,cells\na,again,y\n'
    with pytest.raises(InvalidRequestError) as excinfo:
        fmt.parse_csv(text, source="f.csv")
    message = problems(excinfo)
    assert "line 4: 4 cells, but the header has 3 columns" in message
    assert "line 5: id 'a' is already on line 2" in message


def test_csv_messages_cell_must_be_json() -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        fmt.parse_csv("messages\n[{]\n", source="f.csv")
    assert problems(excinfo).startswith("f.csv line 2: the `messages` cell is not JSON")


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("id,q,q", "column 'q' appears twice"),
        ("id,,q", "column 2 has no name"),
        ("id,messages,q", "a `messages` column cannot go with variable columns (q)"),
        ("id,expected,tags", "no input"),
    ],
)
def test_csv_header_problems(header: str, fragment: str) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        fmt.parse_csv(header + "\n", source="f.csv")
    assert problems(excinfo).startswith("f.csv line 1: ")
    assert fragment in problems(excinfo)


def test_csv_that_is_empty() -> None:
    with pytest.raises(InvalidRequestError, match="is empty"):
        fmt.parse_csv("", source="f.csv")


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        ([Item("a", variables={"n": 1})], "variable 'n' is a number, not text"),
        ([Item("a", variables={"q": "x"}, expected={"k": 1})], "its expected output is an object"),
        ([Item("a", variables={"q": "x"}), Item("b", variables={"r": "y"})], "variables differ"),
        ([Item("a", variables={"q": "x"}), *CHAT], "has messages while others have variables"),
        ([Item("a", variables={"tags": "x"})], "a variable is named 'tags'"),
    ],
)
def test_csv_export_refuses_what_csv_cannot_hold(items: list[Item], fragment: str) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        fmt.render_csv(items)
    assert fragment in problems(excinfo) and "--format jsonl" in problems(excinfo)


# -- files -------------------------------------------------------------------------------------


def test_read_items_by_suffix_and_byte_order_mark(tmp_path: Path) -> None:
    csv_file = tmp_path / "items.CSV"
    csv_file.write_bytes("\ufeffid,q\na,é\n".encode())
    assert fmt.read_items(csv_file) == [Item("a", variables={"q": "é"})]
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text(fmt.render_jsonl(CHAT))
    assert fmt.read_items(jsonl) == CHAT


def test_read_items_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match=r"name it \.jsonl or \.csv"):
        fmt.read_items(tmp_path / "items.txt")
    with pytest.raises(InvalidRequestError, match="Cannot read"):
        fmt.read_items(tmp_path / "missing.jsonl")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"q\n\xe9\n")
    with pytest.raises(InvalidRequestError, match="not UTF-8"):
        fmt.read_items(latin)


def test_file_format() -> None:
    assert fmt.file_format(Path("x.jsonl")) == "jsonl"
    assert fmt.file_format(Path("x.txt"), "csv") == "csv"
    with pytest.raises(InvalidRequestError, match="not one of jsonl, csv"):
        fmt.file_format(Path("x.csv"), "xml")


# -- corrections -------------------------------------------------------------------------------


def test_corrections_replace_expected_outputs_and_count_changes() -> None:
    corrections = fmt.parse_corrections(
        '{"id": "q1", "expected": "four"}\n{"id": "q2", "expected": null}\n{"id": "q3", "expected": "a;b"}\n'
    )
    corrected, changed = fmt.apply_corrections(ITEMS, corrections, where="d@1")
    assert [i.expected for i in corrected] == ["four", None, "a;b"]
    assert changed == 1  # q2 had no expected output, q3 had this one already
    assert [i.tags for i in corrected] == [i.tags for i in ITEMS]


def test_unknown_correction_ids_are_listed() -> None:
    corrections = {"q1": "x", "nope": "y", "gone": "z"}
    with pytest.raises(InvalidRequestError) as excinfo:
        fmt.apply_corrections(ITEMS, corrections, where="support@2")
    assert problems(excinfo).startswith("2 correction ids are not in support@2: 'nope', 'gone';")
    assert "`steward datasets show support@2`" in problems(excinfo)


def test_correction_file_problems() -> None:
    text = '{"id": "a", "expected": 1}\n{"id": "a", "expected": 2}\n{"id": "b"}\n{"id": "", "expected": 1}\n['
    with pytest.raises(InvalidRequestError) as excinfo:
        fmt.parse_corrections(text, source="fix.jsonl")
    message = problems(excinfo)
    assert "line 2: id 'a' is already corrected on line 1" in message
    assert 'line 3: a correction is {"id": ..., "expected": ...}' in message
    assert "line 4: `id` must be a non-empty string" in message
    assert "line 5: not JSON" in message


# -- items from captured payloads --------------------------------------------------------------


def test_an_openai_payload_becomes_messages_and_expected_text() -> None:
    messages = [{"role": "user", "content": "Hello"}]
    document = {
        "request": {"model": "chat", "messages": messages, "temperature": 0},
        "response": {"choices": [{"message": {"role": "assistant", "content": "echo: Hello"}}]},
        "error": None,
    }
    item = item_from_payload(document, endpoint="chat", request_id="req_1")
    assert item == Item(
        fmt.content_id(messages=messages),
        messages=messages,
        expected="echo: Hello",
        tags=("from-records", "request:req_1"),
    )


def test_an_anthropic_payload_becomes_openai_shaped_messages() -> None:
    document = {
        "request": {
            "model": "chat",
            "max_tokens": 20,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        },
        "response": None,
    }
    item = item_from_payload(document, endpoint="messages", request_id="req_2")
    assert item is not None and item.expected is None
    assert item.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


@pytest.mark.parametrize(
    ("request_body", "endpoint"),
    [
        ("not json", "chat"),
        ({"model": "m"}, "chat"),
        ({"messages": []}, "chat"),
        ({"x": 1}, "messages"),
    ],
)
def test_a_payload_without_chat_messages_makes_no_item(request_body: object, endpoint: str) -> None:
    assert item_from_payload({"request": request_body}, endpoint=endpoint, request_id="r") is None
