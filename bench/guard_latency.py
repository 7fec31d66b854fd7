"""Latency of the input guards on a 1,000-character prompt, models already loaded, and the
one-time load cost.

    .venv/bin/python bench/guard_latency.py    # --rounds 200, --sequential, --switch-interval-ms 1

The guards run as the `guard_input` stage runs them (`input_guards.verdicts`: the MiniLM encode
and Presidio prefetched together); `--sequential` starts each guard's heavy part only at its
turn, for comparison. With Presidio installed (Python 3.12+), rows with the PII guard follow.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

from steward.config.guards import GuardsConfig
from steward.config.guards_input import (
    InjectionGuardConfig,
    LimitsGuardConfig,
    SecretsGuardConfig,
    TopicsGuardConfig,
)
from steward.config.guards_pii import PIIGuardConfig
from steward.config.schema import ServerConfig
from steward.guards.base import InputGuard
from steward.guards.embedding import SharedEncoder
from steward.guards.input_guards import build_input_guards, verdicts
from steward.guards.messages import guard_inputs
from steward.guards.pii.engine import AVAILABLE as PII_AVAILABLE
from steward.guards.pii.engine import PIIEngine
from steward.wire.openai import ChatRequest

PROMPT = (
    "Our team is planning a three-day offsite in the mountains next spring. We need a venue "
    "for about forty people with meeting rooms, reliable internet and vegetarian catering. "
    "Could you compare the options near Innsbruck and Chamonix, list the likely costs per "
    "person, and suggest an agenda that mixes workshops with a half-day hike? "
    "Most of us will fly in from Berlin, Lisbon and Warsaw, so tell us which airports are "
    "closest and how long the transfer takes by train or shuttle bus in March. "
    "Two colleagues use wheelchairs, which rules out venues without lifts or step-free rooms. "
    "The budget is roughly nine hundred euros per person, travel excluded, and finance wants "
    "a cancellation policy that refunds at least half the deposit up to six weeks before. "
    "For the evenings we would like one team dinner in town and one quieter night with board "
    "games. Please finish with a short checklist of what to book first, and by which date, "
    "so that nothing is left to the last minute or simply forgotten by anybody."
)
"""1,000 characters, ten sentences, none repeated (a repeated one would be encoded once), and
no digit (numbers in words)."""


def letters(n: int, width: int = 4) -> str:
    """`n` written in letters (a counter that adds no digits: the PII guard's phone
    recognizer skips a text with fewer than four, and the prompt has none)."""
    out = ""
    for _ in range(width):
        n, digit = divmod(n, 26)
        out = chr(ord("a") + digit) + out
    return out


def setups() -> dict[str, GuardsConfig]:
    limits = LimitsGuardConfig(max_chars=20_000, max_tokens=8_000, max_messages=50)
    topics = TopicsGuardConfig(allow=["planning business travel, events and offsites"])
    heuristics = InjectionGuardConfig(layers=["heuristics"])
    found = {
        "limits + secrets + injection (heuristics)": GuardsConfig(
            limits=limits, secrets=SecretsGuardConfig(), injection=heuristics
        ),
        "... + injection semantic layer": GuardsConfig(
            limits=limits,
            secrets=SecretsGuardConfig(),
            injection=InjectionGuardConfig(layers=["heuristics", "semantic"]),
        ),
        "... + semantic layer + topics": GuardsConfig(
            limits=limits,
            secrets=SecretsGuardConfig(),
            injection=InjectionGuardConfig(layers=["heuristics", "semantic"]),
            topics=topics,
        ),
    }
    if PII_AVAILABLE:  # Python 3.12+
        found["limits + secrets + injection (heuristics) + pii"] = GuardsConfig(
            limits=limits,
            secrets=SecretsGuardConfig(),
            injection=heuristics,
            pii=PIIGuardConfig(),
        )
        patterns = {"EMAIL_ADDRESS": "mask", "PHONE_NUMBER": "mask", "CREDIT_CARD": "block"}
        found["... + pii without names (pattern entities only)"] = GuardsConfig(
            limits=limits,
            secrets=SecretsGuardConfig(),
            injection=heuristics,
            pii=PIIGuardConfig(entities=patterns),  # type: ignore[arg-type]
        )
        found["every guard: limits + secrets + heuristics + semantic layer + pii + topics"] = (
            GuardsConfig(
                limits=limits,
                secrets=SecretsGuardConfig(),
                injection=InjectionGuardConfig(layers=["heuristics", "semantic"]),
                pii=PIIGuardConfig(),
                topics=topics,
            )
        )
    return found


async def run(
    guards: list[InputGuard],
    encoder: SharedEncoder,
    rounds: int,
    salt: str,
    sequential: bool = False,
) -> list[float]:
    timings: list[float] = []
    for i in range(rounds):
        # A new prompt each round (a counter appended), so the encoder's memo never answers.
        request = ChatRequest.model_validate(
            {
                "model": "m",
                "messages": [
                    {"role": "user", "content": f"{PROMPT[: -8 - len(salt)]} #{salt}{letters(i)}"}
                ],
            }
        )
        encoder.forget()
        started = time.perf_counter()
        if sequential:  # each guard's encode or analysis only when its turn comes
            inputs = guard_inputs(request)
            for guard in guards:
                await guard.check(inputs)
        else:
            async for _ in verdicts(guards, guard_inputs(request)):  # as the stage runs them
                pass
        timings.append((time.perf_counter() - started) * 1000.0)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="no prefetch: each guard's heavy part starts at its turn (for comparison)",
    )
    parser.add_argument(
        "--switch-interval-ms",
        type=float,
        default=ServerConfig().switch_interval_ms,
        help="Python's thread switch interval, as `steward serve` sets it (Python's own is 5)",
    )
    args = parser.parse_args()
    sys.setswitchinterval(args.switch_interval_ms / 1000.0)
    encoder = SharedEncoder()
    started = time.perf_counter()
    encoder.encode(["load"])
    print(f"MiniLM load (once per process): {(time.perf_counter() - started) * 1000:.0f} ms")
    pii = PIIEngine()
    if PII_AVAILABLE:
        started = time.perf_counter()
        pii.load()
        pii.load(ner=False)
        print(f"Presidio + spaCy load (once per process): {time.perf_counter() - started:.1f} s")
    print(
        f"prompt: {len(PROMPT)} characters, {args.rounds} rounds,"
        f" switch interval {args.switch_interval_ms:g} ms\n"
    )
    print("| guards | p50 ms | p95 ms |\n|---|---|---|")
    for n, (name, config) in enumerate(setups().items()):
        guards = build_input_guards(config, encoder, pii)
        asyncio.run(
            run(guards, encoder, 5, f"w{n}")
        )  # warm: corpus and topic embeddings, BLAS threads
        timings = sorted(asyncio.run(run(guards, encoder, args.rounds, f"r{n}", args.sequential)))
        p50 = statistics.median(timings)
        p95 = timings[int(len(timings) * 0.95) - 1]
        print(f"| {name} | {p50:.2f} | {p95:.2f} |")


if __name__ == "__main__":
    main()
