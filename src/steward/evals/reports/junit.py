"""The gate as JUnit XML: one test suite, one test case per scorer, a failure per regression.

CI systems (GitHub Actions reporters, GitLab, Jenkins) show a regressed scorer as a failed test
whose message gives the difference, its interval and p-value. Text that XML 1.0 cannot carry
(control characters in an item id, say) is replaced with U+FFFD so the file always parses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from steward.evals.compare import Comparison, ScorerComparison

__all__ = ["SUITE_NAME", "render_junit"]

SUITE_NAME = "steward-eval-gate"
_FLIPS_SHOWN = 20
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render_junit(comparison: Comparison) -> str:
    """The JUnit XML document, with its declaration, as text."""
    regressed = sum(1 for scorer in comparison.scorers if scorer.verdict == "regressed")
    root = ET.Element("testsuites", name="steward")
    suite = ET.SubElement(
        root,
        "testsuite",
        name=SUITE_NAME,
        tests=str(len(comparison.scorers)),
        failures=str(regressed),
        errors="0",
        skipped="0",
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in _properties(comparison):
        ET.SubElement(properties, "property", name=name, value=value)
    for scorer in comparison.scorers:
        case = ET.SubElement(suite, "testcase", name=_text(scorer.scorer), classname=SUITE_NAME)
        summary = _describe(scorer, comparison)
        if scorer.verdict == "regressed":
            failure = ET.SubElement(case, "failure", message=summary, type="regressed")
            failure.text = _flips(scorer)
        else:
            ET.SubElement(case, "system-out").text = summary
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _properties(comparison: Comparison) -> list[tuple[str, str]]:
    return [
        ("verdict", comparison.verdict),
        ("alpha", f"{comparison.alpha:g}"),
        ("margin", f"{comparison.margin:g}"),
        ("baseline_errors", str(comparison.baseline.errors)),
        ("candidate_errors", str(comparison.candidate.errors)),
        ("only_in_baseline", str(len(comparison.only_baseline))),
        ("only_in_candidate", str(len(comparison.only_candidate))),
    ]


def _describe(scorer: ScorerComparison, comparison: Comparison) -> str:
    test = scorer.mcnemar
    p_value = (
        f"bootstrap p {_p(scorer.p_value)}"
        if test is None
        else f"McNemar p {_p(test.p_value)} (pass → fail {test.b}, fail → pass {test.c})"
    )
    return _text(
        f"{scorer.verdict}: {scorer.baseline_mean:.3f} → {scorer.candidate_mean:.3f}, "
        f"difference {scorer.difference:+.3f} "
        f"({comparison.confidence:.0%} CI {scorer.ci_low:+.3f} to {scorer.ci_high:+.3f}), "
        f"{p_value}, n = {scorer.n}, margin {comparison.margin:g}"
    )


def _flips(scorer: ScorerComparison) -> str:
    shown = scorer.flipped_to_fail[:_FLIPS_SHOWN]
    if not shown:
        return ""
    more = len(scorer.flipped_to_fail) - len(shown)
    lines = [f"Items that went pass → fail ({len(scorer.flipped_to_fail)}):", *shown]
    if more:
        lines.append(f"… and {more} more")
    return _text("\n".join(lines))


def _p(p_value: float) -> str:
    return "< 0.0001" if p_value < 0.0001 else f"= {p_value:.4f}"


def _text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)
