"""The red-team report as plain text for a terminal and as Markdown for a file or a CI summary."""

from __future__ import annotations

from steward.redteam.report import CategoryResult, Report, excerpt
from steward.redteam.runner import Outcome

__all__ = ["as_markdown", "as_text"]

_FENCE = "~~~"
_MD_CHARS = 600


def as_text(report: Report) -> str:
    lines = [
        _headline(report),
        "",
        f"{'category':<20}{'attempts':>9}{'successes':>11}{'blocked':>9}{'errors':>8}"
        f"{'rate':>8}  95% CI",
    ]
    for c in (*report.categories, report.overall):
        lines.append(
            f"{c.name:<20}{c.attempts:>9}{c.successes:>11}{c.blocked:>9}{c.errors:>8}"
            f"{_pct(c.rate):>8}  {_ci(c)}"
        )
    worst = [o for c in report.categories for o in c.worst]
    lines += ["", "Worst examples" if worst else "No attack succeeded."]
    for outcome in worst:
        lines += [
            f"  {outcome.probe.id} ({outcome.probe.attack.technique}): {_fired(outcome)}",
            f"    attack: {excerpt(outcome.probe.attack_text, width=160)}",
            f"    answer: {excerpt(outcome.answer, _needle(outcome), width=200)}",
        ]
    return "\n".join(lines)


def as_markdown(report: Report) -> str:
    lines = [
        f"# Red-team report: `{report.model}`",
        "",
        _headline(report) + ".",
        "",
        "| category | attempts | successes | blocked | errors | success rate | 95% CI |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for c in report.categories:
        lines.append(_md_row(f"{c.title} (`{c.name}`)", c))
    lines += [_md_row("**overall**", report.overall), "", "## Worst examples"]
    for category in report.categories:
        lines += ["", f"### {category.title} (`{category.name}`)"]
        if not category.worst:
            lines += ["", "No attack in this category succeeded."]
        for outcome in category.worst:
            lines += ["", *_md_example(outcome)]
    return "\n".join(lines) + "\n"


def _headline(report: Report) -> str:
    judge = f"judge `{report.judge}`" if report.judge else "no judge"
    return (
        f"Red team of model {report.model} through {report.base_url}: "
        f"{len(report.outcomes)} attacks, seed {report.seed}, {judge}"
    )


def _md_row(label: str, c: CategoryResult) -> str:
    cells = (label, c.attempts, c.successes, c.blocked, c.errors, _pct(c.rate), _ci(c))
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _md_example(outcome: Outcome) -> list[str]:
    probe = outcome.probe
    return [
        f"**`{probe.id}`** ({probe.attack.technique}): {_fired(outcome)}",
        "",
        "Attack:",
        "",
        _FENCE + "text",
        _fenced(probe.attack_text[:_MD_CHARS]),
        _FENCE,
        "",
        "Answer:",
        "",
        _FENCE + "text",
        _fenced(_md_answer(outcome)),
        _FENCE,
    ]


def _md_answer(outcome: Outcome) -> str:
    if len(outcome.answer) <= _MD_CHARS:
        return outcome.answer
    return excerpt(outcome.answer, _needle(outcome), width=_MD_CHARS)


def _fenced(text: str) -> str:
    return text.replace(_FENCE, "~ ~ ~")


def _fired(outcome: Outcome) -> str:
    fired = "; ".join(f"{f.detector}: {f.evidence}" for f in outcome.findings)
    return fired + (f"; judge said {outcome.judge}" if outcome.judge else "")


def _needle(outcome: Outcome) -> str | None:
    """Where in the answer the first finding shows, to centre the excerpt on it."""
    secrets = outcome.probe.secrets
    for finding in outcome.findings:
        if finding.detector == "marker":
            return secrets.marker
        if finding.detector == "canary":
            return secrets.canary.rsplit("-", 1)[-1]
        if finding.detector == "pii":
            return secrets.email.split("@", 1)[0] if "email" in finding.evidence else "555"
    return None


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def _ci(c: CategoryResult) -> str:
    if not c.attempts:
        return "-"
    low, high = c.interval
    return f"{low:.1%} to {high:.1%}"
