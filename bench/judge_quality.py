"""The injection guard's judge layer with the bundled local model as its judge, on the
injection sets.

    .venv/bin/python bench/judge_quality.py          # about 2.5 minutes; --threads 2

Each item of `bench/guard_quality.py`'s sets (166 attacks, 164 benign) is put to the bundled
SmolLM2-135M-Instruct as the judge layer puts it (`guards/injection/judge.py`: its request,
sent to the local provider as the gateway would, and `judge_score` on the answer: P(yes) /
(P(yes) + P(no)) from the first token's `top_logprobs`); an item's score is its highest over
the messages the injection guard scans. The script prints the judge's AUC alone, its
detection and false positives per threshold, and what it adds as the grey-band layer: items
the heuristics and the semantic layer score in [band, 0.5), blocked when the judge's score
reaches the threshold. Numbers in docs/guardrails.md.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from guard_quality import Item, load_items, score_items

from steward.config.guards_input import InjectionJudgeConfig
from steward.guards.injection.judge import JudgeLayer, judge_score
from steward.guards.messages import guard_inputs
from steward.providers.local import LocalProvider
from steward.wire.openai import ChatRequest


class Judge:
    def __init__(self, threads: int) -> None:
        self._provider = LocalProvider("local", n_threads=threads)
        if (problem := self._provider.available()) is not None:
            raise SystemExit(f"the bundled model is not available: {problem}")
        self._layer = JudgeLayer(InjectionJudgeConfig(model="smollm2"))

    async def p_yes(self, text: str) -> float:
        body = await self._provider.chat(self._layer.request(text), "smollm2")
        score = judge_score(body)
        return 0.0 if score is None else score


async def judged(judge: Judge, items: list[Item]) -> dict[str, float]:
    out = {}
    for item in items:
        request = ChatRequest.model_validate({"model": "m", "messages": item.messages})
        texts = [g.text for g in guard_inputs(request)]
        out[item.id] = max([await judge.p_yes(t) for t in texts], default=0.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    items = load_items()
    attacks = [i for i in items if i.attack]
    benign = [i for i in items if not i.attack]
    started = time.perf_counter()
    judge = asyncio.run(judged(Judge(args.threads), items))
    elapsed = time.perf_counter() - started
    print(
        f"{len(items)} items judged in {elapsed:.0f} s ({elapsed / len(items) * 1000:.0f} ms each)"
    )
    pairs = [
        (judge[a.id] > judge[b.id]) + 0.5 * (judge[a.id] == judge[b.id])
        for a in attacks
        for b in benign
    ]
    print(f"judge alone: AUC {sum(pairs) / len(pairs):.3f}\n")
    print("| judge threshold | detection | false positives |\n|---|---|---|")
    for t in (0.2, 0.3, 0.4, 0.5):
        hit = sum(judge[i.id] >= t for i in attacks)
        fp = sum(judge[i.id] >= t for i in benign)
        print(f"| {t:.1f} | {hit}/{len(attacks)} | {fp}/{len(benign)} |")
    scores = asyncio.run(score_items(items))
    base_hit = sum(scores[i.id]["both"] >= 0.5 for i in attacks)
    base_fp = sum(scores[i.id]["both"] >= 0.5 for i in benign)
    print(f"\nheuristics + semantic at 0.5: {base_hit}/{len(attacks)}, {base_fp}/{len(benign)}\n")
    print("| grey band | judge threshold | detection | false positives |\n|---|---|---|---|")
    for low in (0.2, 0.3, 0.4):
        for t in (0.3, 0.5):

            def blocked(i: Item, low: float = low, t: float = t) -> bool:
                score = scores[i.id]["both"]
                return score >= 0.5 or (score >= low and judge[i.id] >= t)

            hit, fp = sum(map(blocked, attacks)), sum(map(blocked, benign))
            print(f"| [{low:.1f}, 0.5) | {t:.1f} | {hit}/{len(attacks)} | {fp}/{len(benign)} |")


if __name__ == "__main__":
    main()
