"""The gate as one self-contained HTML page, its plots drawn as inline SVG.

No external asset and no script: the page can be attached to a CI run and opened offline. The
forest plot shows each scorer's difference with its interval against 0 and the margin line;
the histograms show each run's latency on shared bins. All text goes through `html.escape`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import numpy as np

from steward.evals.compare import Comparison, FlakyItem, RunSummary, ScorerComparison

__all__ = ["render_html"]

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.regressed { color: #b00020; font-weight: 600; }
.improved { color: #1b7f3b; font-weight: 600; }
svg text { font: 12px system-ui, sans-serif; fill: #222; }
code { background: #f3f3f3; padding: 0 0.2rem; }
"""
_COLOURS = {"regressed": "#b00020", "improved": "#1b7f3b", "no significant change": "#555"}
_WIDTH = 720
_LABEL_W = 180
_VERDICT_W = 170
_ROW_H = 28
_BINS = 20
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Characters HTML text may not hold; they are shown as U+FFFD."""


def render_html(comparison: Comparison, *, max_items: int = 50) -> str:
    """The whole page as text."""
    title = f"Steward eval gate: {comparison.verdict}"
    body = [
        f'<h1>Steward eval gate: <span class="{_verdict_class(comparison.verdict)}">'
        f"{_e(comparison.verdict)}</span></h1>",
        f"<p>Significance level {comparison.alpha:g}; tolerated drop (margin) "
        f"{comparison.margin:g}; {comparison.resamples} bootstrap resamples, seed "
        f"{comparison.seed}.</p>",
        "<h2>Scorers</h2>",
        _scorer_table(comparison),
        f"<h2>Differences, candidate &minus; baseline, with {comparison.confidence:.0%} intervals</h2>",
        _forest_plot(comparison.scorers, margin=comparison.margin),
        _flipped(comparison.scorers, max_items),
        _flaky(comparison.flaky, max_items),
        _one_run_only(comparison, max_items),
        "<h2>Latency and cost</h2>",
        _runs_table(comparison.baseline, comparison.candidate),
        *_histograms(comparison.baseline, comparison.candidate),
    ]
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )


def _scorer_table(comparison: Comparison) -> str:
    if not comparison.scorers:
        return "<p>No scores to compare.</p>"
    head = (
        "<tr><th>Scorer</th><th>Kind</th><th>Items</th><th>Baseline</th><th>Candidate</th>"
        f"<th>Difference</th><th>{comparison.confidence:.0%} CI</th><th>p-value</th>"
        "<th>Verdict</th></tr>"
    )
    rows = [head]
    for s in comparison.scorers:
        test = f"McNemar, b = {s.mcnemar.b}, c = {s.mcnemar.c}" if s.mcnemar else "bootstrap"
        rows.append(
            f"<tr><td>{_e(s.scorer)}</td><td>{_e(s.kind.replace('_', '/'))}</td>"
            f'<td class="num">{s.n}</td><td class="num">{s.baseline_mean:.3f}</td>'
            f'<td class="num">{s.candidate_mean:.3f}</td>'
            f'<td class="num">{s.difference:+.3f}</td>'
            f'<td class="num">[{s.ci_low:+.3f}, {s.ci_high:+.3f}]</td>'
            f'<td class="num">{_p(s.p_value)} ({_e(test)})</td>'
            f'<td class="{_verdict_class(s.verdict)}">{_e(s.verdict)}</td></tr>'
        )
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _forest_plot(scorers: Sequence[ScorerComparison], *, margin: float) -> str:
    """Each scorer's difference as a dot on its interval, with 0 and -margin as lines."""
    if not scorers:
        return ""
    low = min(0.0, -margin, *(s.ci_low for s in scorers))
    high = max(0.0, *(s.ci_high for s in scorers))
    pad = (high - low) * 0.08 or 0.05
    low, high = low - pad, high + pad
    left, right = _LABEL_W, _WIDTH - _VERDICT_W
    height = _ROW_H * len(scorers) + 40

    def x(value: float) -> float:
        return left + (value - low) / (high - low) * (right - left)

    parts = [_line(x(0), 4, x(0), height - 30, "#888")]
    if margin > 0:
        parts.append(_line(x(-margin), 4, x(-margin), height - 30, "#b00020", dashed=True))
        parts.append(_text(x(-margin), height - 4, f"-margin {margin:g}", anchor="middle"))
    for row, s in enumerate(scorers):
        y = 20 + row * _ROW_H
        colour = _COLOURS[s.verdict]
        parts += [
            _text(left - 10, y + 4, _clip(s.scorer), anchor="end"),
            _line(x(s.ci_low), y, x(s.ci_high), y, colour, width=2),
            f'<circle cx="{x(s.difference):.1f}" cy="{y}" r="4" fill="{colour}">'
            f"<title>{_e(s.scorer)}: {s.difference:+.3f} "
            f"[{s.ci_low:+.3f}, {s.ci_high:+.3f}]</title></circle>",
            _text(right + 10, y + 4, s.verdict),
        ]
    parts += [
        _text(left, height - 18, f"{low:+.3f}", anchor="start"),
        _text(x(0), height - 18, "0", anchor="middle"),
        _text(right, height - 18, f"{high:+.3f}", anchor="end"),
    ]
    return _svg(height, "Forest plot of the differences", parts)


def _latency_histogram(
    latencies_ms: Sequence[float], edges: Sequence[float], *, tallest: int, label: str
) -> str:
    """A histogram of one run's latencies on the given bin edges, with p50 and p95 lines."""
    counts, _ = np.histogram(np.asarray(latencies_ms, dtype=np.float64), bins=np.asarray(edges))
    left, right, top, bottom = 50, _WIDTH - 20, 24, 150
    span = edges[-1] - edges[0] or 1.0

    def x(value: float) -> float:
        return left + (value - edges[0]) / span * (right - left)

    p50, p95 = np.percentile(np.asarray(latencies_ms, dtype=np.float64), [50, 95])
    caption = f"{label}: p50 {p50:.0f} ms, p95 {p95:.0f} ms (dashed lines)"
    parts = [_text(left, 14, caption, anchor="start")]
    for count, start, stop in zip(counts, edges[:-1], edges[1:], strict=True):
        bar = (bottom - top) * int(count) / max(tallest, 1)
        parts.append(
            f'<rect x="{x(start):.1f}" y="{bottom - bar:.1f}" width="{max(x(stop) - x(start) - 1, 1):.1f}" '
            f'height="{bar:.1f}" fill="#4a78b0"><title>{start:.0f} to {stop:.0f} ms: '
            f"{int(count)}</title></rect>"
        )
    for value in (float(p50), float(p95)):
        parts.append(_line(x(value), top, x(value), bottom, "#222", dashed=True))
    parts += [
        _line(left, bottom, right, bottom, "#888"),
        _text(left, bottom + 16, f"{edges[0]:.0f} ms", anchor="start"),
        _text(right, bottom + 16, f"{edges[-1]:.0f} ms", anchor="end"),
        _text(left - 6, top + 8, str(tallest), anchor="end"),
    ]
    return _svg(bottom + 24, f"Latency histogram, {label}", parts)


def _histograms(baseline: RunSummary, candidate: RunSummary) -> list[str]:
    pooled = np.asarray([*baseline.latencies_ms, *candidate.latencies_ms], dtype=np.float64)
    if len(pooled) == 0:
        return ["<p>No successful results, so no latency to plot.</p>"]
    edges = np.histogram_bin_edges(pooled, bins=_BINS)
    runs = [("baseline", baseline), ("candidate", candidate)]
    tallest = max(
        int(np.histogram(run.latencies_ms, bins=edges)[0].max()) if run.latencies_ms else 0
        for _, run in runs
    )
    return [
        _latency_histogram(run.latencies_ms, edges.tolist(), tallest=tallest, label=name)
        if run.latencies_ms
        else f"<p>No successful results in the {name} run.</p>"
        for name, run in runs
    ]


def _flipped(scorers: Sequence[ScorerComparison], max_items: int) -> str:
    rows = [
        f"<li><strong>{_e(s.scorer)}</strong>: pass → fail ({len(s.flipped_to_fail)}): "
        f"{_ids(s.flipped_to_fail, max_items)}; fail → pass ({len(s.flipped_to_pass)}): "
        f"{_ids(s.flipped_to_pass, max_items)}</li>"
        for s in scorers
        if s.flipped_to_fail or s.flipped_to_pass
    ]
    return "<h2>Flipped items</h2>\n<ul>\n" + "\n".join(rows) + "\n</ul>" if rows else ""


def _flaky(flaky: Sequence[FlakyItem], max_items: int) -> str:
    if not flaky:
        return ""
    rows = [
        f"<tr><td><code>{_e(f.item_id)}</code></td><td>{_e(f.scorer)}</td><td>{_e(f.run)}</td>"
        f'<td class="num">{f.passes} of {f.repeats}</td></tr>'
        for f in flaky[:max_items]
    ]
    more = f"<p>… and {len(flaky) - max_items} more.</p>" if len(flaky) > max_items else ""
    return (
        f"<h2>Flaky items ({len(flaky)})</h2>\n<p>Repeats of these items disagree on "
        "pass/fail.</p>\n<table>\n<tr><th>Item</th><th>Scorer</th><th>Run</th><th>Passed</th>"
        "</tr>\n" + "\n".join(rows) + "\n</table>" + more
    )


def _one_run_only(comparison: Comparison, max_items: int) -> str:
    rows = [
        f"<li>{run} only ({len(ids)}), left out of the statistics: {_ids(ids, max_items)}</li>"
        for run, ids in (
            ("Baseline", comparison.only_baseline),
            ("Candidate", comparison.only_candidate),
        )
        if ids
    ]
    return "<h2>Items in one run only</h2>\n<ul>\n" + "\n".join(rows) + "\n</ul>" if rows else ""


def _runs_table(baseline: RunSummary, candidate: RunSummary) -> str:
    rows = [
        "<tr><th>Run</th><th>Items</th><th>Results</th><th>Errors</th><th>p50 latency</th>"
        "<th>p95 latency</th><th>Total cost</th><th>Cost per item</th></tr>"
    ]
    for name, run in (("baseline", baseline), ("candidate", candidate)):
        cells = [run.items, run.results, run.errors]
        values = [_ms(run.latency_p50_ms), _ms(run.latency_p95_ms)]
        values += [_usd(run.total_cost_usd), _usd(run.cost_per_item_usd)]
        rows.append(
            f"<tr><td>{name}</td>"
            + "".join(f'<td class="num">{cell}</td>' for cell in [*cells, *values])
            + "</tr>"
        )
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _svg(height: int, label: str, parts: Sequence[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="{_e(label)}">\n'
        + "\n".join(parts)
        + "\n</svg>"
    )


def _line(
    x1: float, y1: float, x2: float, y2: float, colour: str, *, width: int = 1, dashed: bool = False
) -> str:
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
        f'stroke="{colour}" stroke-width="{width}"{dash}/>'
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{_e(text)}</text>'


def _ids(ids: Sequence[str], max_items: int) -> str:
    if not ids:
        return "none"
    shown = ", ".join(f"<code>{_e(item)}</code>" for item in ids[:max_items])
    more = len(ids) - max_items
    return f"{shown} and {more} more" if more > 0 else shown


def _clip(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _verdict_class(verdict: str) -> str:
    return {"regressed": "regressed", "improved": "improved"}.get(verdict, "unchanged")


def _e(text: str) -> str:
    return html.escape(_CONTROL.sub("\ufffd", text), quote=True)


def _p(p_value: float) -> str:
    return "&lt; 0.0001" if p_value < 0.0001 else f"{p_value:.4f}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}"
