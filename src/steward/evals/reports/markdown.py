"""The gate as Markdown for a pull-request comment: the scorer table, flips, flakes, cost, latency.

Item ids and scorer names are user data: they are HTML-escaped and their Markdown punctuation
backslash-escaped, so an id cannot break the table, start a link or inject markup. Long lists
are cut at `max_items` with a count of the rest.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from steward.evals.compare import Comparison, FlakyItem, RunSummary, ScorerComparison

__all__ = ["render_markdown"]

_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]|~#!])")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def render_markdown(comparison: Comparison, *, max_items: int = 20) -> str:
    """The whole comment, ending in a newline."""
    paired = comparison.scorers[0].n if comparison.scorers else 0
    sections = [
        f"## Steward eval gate: {comparison.verdict}",
        f"Candidate against baseline on {paired} paired items; significance level "
        f"{comparison.alpha:g}, tolerated drop (margin) {comparison.margin:g}.",
        _scorer_table(comparison),
        _flipped(comparison.scorers, max_items),
        _flaky(comparison.flaky, max_items),
        _one_run_only(comparison, max_items),
        _runs_table(comparison.baseline, comparison.candidate),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def _scorer_table(comparison: Comparison) -> str:
    if not comparison.scorers:
        return "No scores to compare."
    level = f"{comparison.confidence:.0%} CI"
    rows = [
        f"| Scorer | Kind | Items | Baseline | Candidate | Difference | {level} | p-value | Verdict |",
        "|---|---|--:|--:|--:|--:|---|--:|---|",
    ]
    for scorer in comparison.scorers:
        kind = "pass/fail" if scorer.kind == "pass_fail" else "continuous"
        test = "McNemar" if scorer.mcnemar is not None else "bootstrap"
        verdict = f"**{scorer.verdict}**" if scorer.verdict == "regressed" else scorer.verdict
        rows.append(
            f"| {_escape(scorer.scorer)} | {kind} | {scorer.n} | {scorer.baseline_mean:.3f} | "
            f"{scorer.candidate_mean:.3f} | {scorer.difference:+.3f} | "
            f"[{scorer.ci_low:+.3f}, {scorer.ci_high:+.3f}] | "
            f"{_p(scorer.p_value)} ({test}) | {verdict} |"
        )
    return "\n".join(rows)


def _flipped(scorers: Sequence[ScorerComparison], max_items: int) -> str:
    lines = []
    for scorer in scorers:
        if scorer.flipped_to_fail or scorer.flipped_to_pass:
            lines.append(
                f"- **{_escape(scorer.scorer)}**: pass → fail ({len(scorer.flipped_to_fail)}): "
                f"{_ids(scorer.flipped_to_fail, max_items)}; fail → pass "
                f"({len(scorer.flipped_to_pass)}): {_ids(scorer.flipped_to_pass, max_items)}"
            )
    return "### Flipped items\n\n" + "\n".join(lines) if lines else ""


def _flaky(flaky: Sequence[FlakyItem], max_items: int) -> str:
    if not flaky:
        return ""
    rows = [
        f"### Flaky items ({len(flaky)})",
        "",
        "Repeats of these items disagree on pass/fail.",
        "",
        "| Item | Scorer | Run | Passed |",
        "|---|---|---|--:|",
    ]
    rows += [
        f"| {_escape(f.item_id)} | {_escape(f.scorer)} | {f.run} | {f.passes} of {f.repeats} |"
        for f in flaky[:max_items]
    ]
    if len(flaky) > max_items:
        rows += ["", f"… and {len(flaky) - max_items} more."]
    return "\n".join(rows)


def _one_run_only(comparison: Comparison, max_items: int) -> str:
    lines = [
        f"- {run} only ({len(ids)}), left out of the statistics: {_ids(ids, max_items)}"
        for run, ids in (
            ("Baseline", comparison.only_baseline),
            ("Candidate", comparison.only_candidate),
        )
        if ids
    ]
    return "### Items in one run only\n\n" + "\n".join(lines) if lines else ""


def _runs_table(baseline: RunSummary, candidate: RunSummary) -> str:
    rows = [
        "### Cost and latency",
        "",
        "| Run | Items | Results | Errors | p50 latency | p95 latency | Total cost | Cost per item |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, run in (("baseline", baseline), ("candidate", candidate)):
        rows.append(
            f"| {name} | {run.items} | {run.results} | {run.errors} | "
            f"{_ms(run.latency_p50_ms)} | {_ms(run.latency_p95_ms)} | "
            f"{_usd(run.total_cost_usd)} | {_usd(run.cost_per_item_usd)} |"
        )
    return "\n".join(rows)


def _ids(ids: Sequence[str], max_items: int) -> str:
    if not ids:
        return "none"
    shown = ", ".join(_escape(item) for item in ids[:max_items])
    more = len(ids) - max_items
    return f"{shown} and {more} more" if more > 0 else shown


def _escape(text: str) -> str:
    flat = " ".join(_CONTROL.sub("\ufffd", text).split())
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(flat, quote=False))


def _p(p_value: float) -> str:
    return "< 0.0001" if p_value < 0.0001 else f"{p_value:.4f}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}"
