"""Latency of the bundled all-MiniLM-L6-v2 (`steward.embeddings.minilm`) on a 200-token prompt.

    python bench/embedding_latency.py [--precision int8|float32] [--calls 200] [--rounds 3]
                                      [--threads 2 1] [--lengths ...] [--compare]

Prints NumPy's BLAS and its thread count; this machine's float32 matrix-product rate (a 2048³
product, and the model's own shapes at 200 tokens) and so the least time one forward pass can
take; then for each BLAS thread count and round, p50/p95/min of `encode([text])` for one
customer-support prompt of 200 tokens ([CLS] and [SEP] included; tokenising is timed too), one
call at a time after a warm-up, and texts/s when 8 such prompts go in one `encode` call; last,
p50 at other prompt lengths, to show where the target is met. Target (semantic cache lookup):
p50 <= 15 ms at 200 tokens.

`--precision int8` (the default encoder) times ONNX Runtime's int8 graph; its thread pool is
its own, so the BLAS thread counts do not apply and it runs one set of rounds. `--compare`
first prints the cosine between the int8 and float32 vectors of each text the script uses.

Each round says how much CPU other processes used while it ran. On 2 CPUs a busy neighbour
slows a 2-thread BLAS a lot (its threads wait for each other), so trust rounds where that is
near zero. The thread count is set through OpenBLAS's C API, found among the loaded libraries.
"""

from __future__ import annotations

import argparse
import ctypes
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import psutil

from steward.embeddings.minilm import DIMENSIONS, MiniLM

TARGET_P50_MS = 15.0
SENTENCES = [
    "Hi, I'm writing because my order #48213 arrived yesterday, but the blender inside was "
    "cracked along the base and the lid no longer locks into place.",
    "I paid by credit card on March 3rd and chose express shipping because it is a birthday gift "
    "for my sister this weekend.",
    "I already tried to start a return on your website, but the returns page keeps showing an "
    "error saying the item is not eligible, even though your policy says damaged goods can be "
    "returned within thirty days.",
    "Could you tell me whether a replacement can be shipped before Saturday?",
    "If not, how do I get a full refund, including the express shipping fee?",
    "Do I need to send the broken blender back first, and who pays for the return label?",
    "I have photos of the damage and of the box, which was also crushed on one corner.",
    "My account email is the one I used at checkout.",
    "Please reply by email in English and keep the answer short, thank you very much.",
]
PROMPT = " ".join(SENTENCES)
PROMPT_TOKENS = 200
# Eight different prompts of the same length: the same sentences, rotated.
BATCH = [" ".join(SENTENCES[i:] + SENTENCES[:i]) for i in range(8)]

INTERMEDIATE, LAYERS = 4 * DIMENSIONS, 6
# (in, out) of each dense product in a layer: query+key+value, attention output, FFN up, down.
DENSE_SHAPES = [
    (DIMENSIONS, 3 * DIMENSIONS),
    (DIMENSIONS, DIMENSIONS),
    (DIMENSIONS, INTERMEDIATE),
    (INTERMEDIATE, DIMENSIONS),
]


def forward_flops(tokens: int) -> float:
    """2 x multiply-adds of one forward pass: the dense products, q·kᵀ and softmax·v."""
    dense = sum(2 * tokens * k * n for k, n in DENSE_SHAPES)
    attention = 2 * 2 * tokens * tokens * DIMENSIONS
    return float(LAYERS * (dense + attention))


class Blas:
    """NumPy's BLAS; reads and sets its thread count when it is OpenBLAS."""

    # (prefix, suffix) of OpenBLAS's C API: NumPy's wheels, the 32-bit-index build, plain OpenBLAS.
    NAMINGS = (("scipy_openblas_", "64_"), ("scipy_openblas_", ""), ("openblas_", ""))

    def __init__(self) -> None:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        self.name = f"{config.get('name')} {config.get('version')}"
        self._lib: ctypes.CDLL | None = None
        self._naming = ("", "")
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if re.search(r"openblas[^/]*\.so", line)}
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            for prefix, suffix in self.NAMINGS:
                if hasattr(lib, f"{prefix}set_num_threads{suffix}"):
                    self._lib, self._naming = lib, (prefix, suffix)
        core = self._function("get_corename", ctypes.c_char_p)
        self.core = core().decode() if core else "?"

    def threads(self) -> int:
        function = self._function("get_num_threads", ctypes.c_int)
        return int(function()) if function else 0

    def set_threads(self, count: int) -> None:
        function = self._function("set_num_threads", None)
        if function is None:
            raise SystemExit(f"cannot set the thread count of {self.name}")
        function(count)

    def _function(self, name: str, restype: object) -> Callable[..., object] | None:
        if self._lib is None:
            return None
        prefix, suffix = self._naming
        function = getattr(self._lib, f"{prefix}{name}{suffix}")
        function.restype = restype
        return function  # type: ignore[no-any-return]


def gemm_gflops(m: int, k: int, n: int, min_s: float = 0.3) -> float:
    """Best-of-5 float32 rate of an (m, k) @ (k, n) product."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    out = np.empty((m, n), dtype=np.float32)
    np.matmul(a, b, out=out)
    reps = max(1, int(min_s / 5 / max(timed(lambda: np.matmul(a, b, out=out)), 1e-6)))
    best = min(timed(lambda: [np.matmul(a, b, out=out) for _ in range(reps)]) for _ in range(5))
    return 2 * m * k * n * reps / best / 1e9


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@contextmanager
def other_cpu_use() -> Iterator[list[float]]:
    """CPUs' worth of time other processes used inside the block (machine busy time minus ours)."""
    me = psutil.Process()
    result: list[float] = []
    busy_before, ours_before = _busy_s(), sum(me.cpu_times()[:2])
    started = time.perf_counter()
    yield result
    wall = time.perf_counter() - started
    others = (_busy_s() - busy_before) - (sum(me.cpu_times()[:2]) - ours_before)
    result.append(max(others, 0.0) / wall)


def _busy_s() -> float:
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq + t.steal)


@dataclass
class Round:
    single_ms: list[float]
    batch_ms: list[float]
    other_cpus: float

    def row(self, threads: int, index: int, flops: float) -> str:
        p50, p95 = np.percentile(self.single_ms, [50, 95])
        batch_p50 = float(np.median(self.batch_ms))
        return (
            f"| {threads} | {index} | {p50:.1f} | {p95:.1f} | {min(self.single_ms):.1f} "
            f"| {batch_p50:.0f} | {len(BATCH) / batch_p50 * 1e3:.1f} | {flops / p50 / 1e6:.0f} "
            f"| {self.other_cpus:.2f} |"
        )


def measure(model: MiniLM, calls: int, batch_calls: int) -> Round:
    for _ in range(20):  # warm-up: caches, BLAS threads, allocator
        model.encode([PROMPT])
    model.encode(BATCH)
    with other_cpu_use() as other:
        single = [timed(lambda: model.encode([PROMPT])) * 1e3 for _ in range(calls)]
        batch = [timed(lambda: model.encode(BATCH)) * 1e3 for _ in range(batch_calls)]
    return Round(single, batch, other[0])


def prompt_of(model: MiniLM, tokens: int) -> str:
    """The longest run of whole words from the prompt (repeated) that makes <= `tokens`."""
    words = " ".join([PROMPT] * 2).split()
    low, high = 1, len(words)
    while low < high:
        middle = (low + high + 1) // 2
        if model.count_tokens([" ".join(words[:middle])])[0] <= tokens:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low])


def print_machine(blas: Blas, thread_counts: list[int]) -> None:
    flops = forward_flops(PROMPT_TOKENS)
    print(f"BLAS: {blas.name}, kernel {blas.core}, {blas.threads()} threads by default")
    print(f"CPUs: {psutil.cpu_count()}; one forward pass at {PROMPT_TOKENS} tokens: ", end="")
    print(f"{flops / 1e9:.2f} GFLOP; {TARGET_P50_MS:.0f} ms would need ", end="")
    print(f"{flops / TARGET_P50_MS / 1e6:.0f} GFLOP/s")
    print()
    print("| BLAS threads | 2048³ GFLOP/s | model's shapes GFLOP/s | forward pass at that rate |")
    print("|---|---|---|---|")
    for threads in thread_counts:
        blas.set_threads(threads)
        big = gemm_gflops(2048, 2048, 2048)
        shapes_s = sum(2 * PROMPT_TOKENS * k * n / gemm_gflops(PROMPT_TOKENS, k, n) / 1e9
                       for k, n in DENSE_SHAPES)  # fmt: skip
        shapes = sum(2 * PROMPT_TOKENS * k * n for k, n in DENSE_SHAPES) / shapes_s / 1e9
        print(f"| {threads} | {big:.0f} | {shapes:.0f} | {flops / shapes / 1e6:.1f} ms |")


def compare(texts: list[str]) -> None:
    int8, float32 = (MiniLM.load(precision=p).encode(texts) for p in ("int8", "float32"))
    agreement = np.einsum("ij,ij->i", int8, float32)
    pairs = np.abs(int8 @ int8.T - float32 @ float32.T)
    print(
        f"int8 against float32 on {len(texts)} texts: cosine min {agreement.min():.4f}, "
        f"mean {agreement.mean():.4f}; pairwise similarity moves by at most {pairs.max():.4f}"
    )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200, help="single-text calls per round")
    parser.add_argument("--batch-calls", type=int, default=25, help="8-text calls per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="BLAS threads")
    parser.add_argument(
        "--lengths", type=int, nargs="*", default=[16, 32, 64, 96, 128, 256], help="tokens"
    )
    parser.add_argument("--precision", choices=["int8", "float32"], default="int8")
    parser.add_argument("--compare", action="store_true", help="int8 against float32 first")
    args = parser.parse_args()

    model = MiniLM.load(precision=args.precision)
    if args.compare:
        compare([*SENTENCES, PROMPT, *BATCH])
    if args.precision == "int8":
        args.threads = args.threads[:1]
    assert model.count_tokens([PROMPT, *BATCH]) == [PROMPT_TOKENS] * (1 + len(BATCH))
    blas = Blas()
    default_threads = blas.threads()
    print_machine(blas, args.threads)
    print()
    print(
        "| BLAS threads | round | p50 ms | p95 ms | min ms | batch of 8, ms | texts/s "
        "| GFLOP/s at p50 | other processes, CPUs |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"encoder: {model.precision}")
    for threads in args.threads:
        blas.set_threads(threads)
        for index in range(1, args.rounds + 1):
            r = measure(model, args.calls, args.batch_calls)
            print(r.row(threads, index, forward_flops(PROMPT_TOKENS)), flush=True)
    if args.lengths:
        blas.set_threads(default_threads)
        print()
        print(
            f"| tokens | p50 ms ({default_threads} BLAS threads) | p95 ms | GFLOP/s at p50 "
            "| other processes, CPUs |"
        )
        print("|---|---|---|---|---|")
        for tokens in sorted(args.lengths):
            text = prompt_of(model, tokens)
            actual = model.count_tokens([text])[0]
            for _ in range(10):
                model.encode([text])
            with other_cpu_use() as other:
                ms = [timed(lambda t=text: model.encode([t])) * 1e3 for _ in range(args.calls)]
            p50, p95 = np.percentile(ms, [50, 95])
            print(
                f"| {actual} | {p50:.1f} | {p95:.1f} | {forward_flops(actual) / p50 / 1e6:.0f} "
                f"| {other[0]:.2f} |"
            )
    print()
    print(f"target: p50 <= {TARGET_P50_MS:.0f} ms for one {PROMPT_TOKENS}-token text")


if __name__ == "__main__":
    main()
