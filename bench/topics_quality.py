"""Topic rules' quality: how often a rule refuses what it should, and what it should not.

    .venv/bin/python bench/topics_quality.py          # --show: every prompt's similarity

Cases: tests/data/guards/topics.json, four rules as an operator would write them (three
`allow` lists, one `deny` list) with 15 prompts inside and 15 outside each, written by hand
(short, misspelled, sharing words with the topic). The topic guard runs as the gateway runs it
(`TopicsGuard`, the bundled MiniLM): for an allow list, a refusal is right for a prompt outside
it; for a deny list, for a prompt inside it. Per threshold: the share of prompts the rule
should refuse that it refuses, and of those it should serve that it refuses (false positives).
Numbers in docs/guardrails.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from steward.config.guards_input import TopicsGuardConfig
from steward.guards.embedding import SharedEncoder
from steward.guards.topics import TopicsGuard

CASES = Path(__file__).resolve().parents[1] / "tests" / "data" / "guards" / "topics.json"
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


async def similarities(case: dict[str, Any], encoder: SharedEncoder) -> dict[str, list[float]]:
    """Each prompt's best cosine to the rule's topics, inside and outside."""
    config = TopicsGuardConfig(allow=case.get("allow", []), deny=case.get("deny", []))
    guard = TopicsGuard(config, encoder)
    deny = bool(config.deny)
    out: dict[str, list[float]] = {}
    for side in ("inside", "outside"):
        scores = [await guard.similarities(text) for text in case[side]]
        out[side] = [denied if deny else allowed for allowed, denied in scores]
    return out


def rates(
    deny: bool, inside: list[float], outside: list[float], threshold: float
) -> tuple[int, int, int, int]:
    """(refused that should be, should be, refused that should not be, should not be)."""
    if deny:  # refuse at or above the threshold; the inside prompts are the ones to refuse
        return (
            sum(s >= threshold for s in inside),
            len(inside),
            sum(s >= threshold for s in outside),
            len(outside),
        )
    return (
        sum(s < threshold for s in outside),
        len(outside),
        sum(s < threshold for s in inside),
        len(inside),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print every prompt's similarity")
    args = parser.parse_args()
    cases = json.loads(CASES.read_text(encoding="utf-8"))["cases"]
    encoder = SharedEncoder()
    results = [(case, asyncio.run(similarities(case, encoder))) for case in cases]
    for kind, deny in (("allow", False), ("deny", True)):
        chosen = [(c, r) for c, r in results if bool(c.get("deny")) == deny]
        if not chosen:
            continue
        names = ", ".join(c["name"] for c, _ in chosen)
        print(f"\n{kind} rules ({names}):\n")
        print("| threshold | refused, should be | refused, should not be |\n|---|---|---|")
        for threshold in THRESHOLDS:
            right = should = wrong = should_not = 0
            for _, scores in chosen:
                a, b, c, d = rates(deny, scores["inside"], scores["outside"], threshold)
                right, should, wrong, should_not = right + a, should + b, wrong + c, should_not + d
            print(
                f"| {threshold:.2f} | {right / should:.1%} ({right}/{should}) "
                f"| {wrong / should_not:.1%} ({wrong}/{should_not}) |"
            )
    if args.show:
        for case, scores in results:
            print(f"\n{case['name']}:")
            for side in ("inside", "outside"):
                for text, score in sorted(
                    zip(case[side], scores[side], strict=True), key=lambda p: p[1]
                ):
                    print(f"  {side:7s} {score:+.2f}  {text}")


if __name__ == "__main__":
    main()
