"""Tests for SSE encoding and the incremental decoder."""

from __future__ import annotations

import pytest

from steward.wire.sse import DONE, SSEDecoder, SSEEvent, encode_event

STREAM = (
    b"event: message_start\n"
    b'data: {"type": "message_start"}\n'
    b"\n"
    b": keep-alive comment\n"
    b"\n"
    b"event: content_block_delta\n"
    b'data: {"text": "h\xc3\xa9llo"}\n'
    b"\n"
    b"data: line one\n"
    b"data: line two\n"
    b"\n"
    b"data: [DONE]\n"
    b"\n"
)
EXPECTED = [
    SSEEvent("message_start", '{"type": "message_start"}'),
    SSEEvent("content_block_delta", '{"text": "héllo"}'),
    SSEEvent(None, "line one\nline two"),
    SSEEvent(None, "[DONE]"),
]


def decode_all(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.finish()


def test_encode_dict_is_compact_json() -> None:
    assert encode_event({"a": 1, "b": "é"}) == b'data: {"a":1,"b":"\xc3\xa9"}\n\n'


def test_encode_with_event_name() -> None:
    assert encode_event({"type": "ping"}, "ping") == b'event: ping\ndata: {"type":"ping"}\n\n'


def test_encode_str_and_bytes() -> None:
    assert encode_event("[DONE]") == DONE
    assert encode_event(b"raw") == b"data: raw\n\n"


def test_encode_multiline_text_becomes_several_data_lines() -> None:
    assert encode_event("a\nb\r\nc") == b"data: a\ndata: b\ndata: c\n\n"
    assert decode_all([encode_event("a\nb")]) == [SSEEvent(None, "a\nb")]


def test_decode_whole_stream() -> None:
    assert decode_all([STREAM]) == EXPECTED


def test_decode_byte_by_byte() -> None:
    assert decode_all([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_decode_every_two_way_split() -> None:
    for i in range(len(STREAM) + 1):
        assert decode_all([STREAM[:i], STREAM[i:]]) == EXPECTED, i


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_decode_other_line_endings_at_every_split(newline: bytes) -> None:
    stream = STREAM.replace(b"\n", newline)
    for i in range(len(stream) + 1):
        assert decode_all([stream[:i], stream[i:]]) == EXPECTED, i


def test_crlf_split_between_cr_and_lf_is_one_line_break() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == [SSEEvent(None, "a")]  # CRLF then CR: a blank line
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r\n") == [SSEEvent(None, "b")]


def test_event_without_data_is_not_dispatched() -> None:
    assert decode_all([b"event: lonely\n\n:comment only\n\n\n\n"]) == []


def test_field_without_space_and_unknown_fields() -> None:
    stream = b"id: 7\nretry: 100\nevent:ping\ndata:{}\nfoo: bar\n\n"
    assert decode_all([stream]) == [SSEEvent("ping", "{}")]


def test_empty_data_line_counts() -> None:
    assert decode_all([b"data\n\n", b"data:\ndata:\n\n"]) == [
        SSEEvent(None, ""),
        SSEEvent(None, "\n"),
    ]


def test_finish_dispatches_unterminated_event_once() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: tail\r\n") == []
    assert decoder.finish() == [SSEEvent(None, "tail")]
    assert decoder.finish() == []


def test_byte_order_mark_is_skipped_even_when_split() -> None:
    stream = b"\xef\xbb\xbfdata: x\n\n"
    for i in range(len(stream) + 1):
        assert decode_all([stream[:i], stream[i:]]) == [SSEEvent(None, "x")], i


def test_many_events_in_one_chunk_keep_the_tail() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"data: 1\n\ndata: 2\n\ndata: 3")
    assert [e.data for e in events] == ["1", "2"]
    assert decoder.feed(b"\n\n") == [SSEEvent(None, "3")]


def test_encode_decode_round_trip() -> None:
    payloads = [({"n": i, "text": "x" * i}, "delta" if i % 2 else None) for i in range(20)]
    stream = b"".join(encode_event(data, event) for data, event in payloads)
    events = decode_all([stream[i : i + 7] for i in range(0, len(stream), 7)])
    assert [(e.event) for e in events] == [event for _, event in payloads]
