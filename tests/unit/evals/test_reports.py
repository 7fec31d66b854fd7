"""The gate's reports: JUnit XML that parses, a Markdown table, an HTML page that escapes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from steward.evals import reports
from steward.evals.compare import Comparison, compare
from steward.evals.reports import render_html, render_junit, render_markdown
from steward.evals.results import ItemResult, Score

MALICIOUS = "<script>alert('x')</script>"


def result(item: str, *, passed: bool, similarity: float, repeat: int = 0) -> ItemResult:
    return ItemResult(
        item_id=item,
        repeat=repeat,
        scores={
            "exact": Score(value=float(passed), passed=passed),
            "similarity": Score(value=similarity),
        },
        latency_ms=100.0 + 10 * repeat + len(item),
        cost_usd=0.002,
    )


def regressed_comparison(margin: float = 0.0) -> Comparison:
    """exact: 30 of 40 items go pass → fail (one of them is named like a script tag);
    similarity: unchanged. A flaky item and an item in one run only, with hostile ids."""
    ids = [MALICIOUS, "a|b", *(f"item-{k}" for k in range(38))]
    baseline = [result(item, passed=True, similarity=0.7) for item in ids]
    candidate = [result(item, passed=k >= 30, similarity=0.7) for k, item in enumerate(ids)]
    baseline += [
        result("flaky & <b>", passed=True, similarity=0.5),
        result("flaky & <b>", passed=False, similarity=0.5, repeat=1),
        result("gone\x00<i>", passed=True, similarity=0.5),
    ]
    candidate.append(result("flaky & <b>", passed=True, similarity=0.5))
    return compare(baseline, candidate, margin=margin, resamples=2000)


def unchanged_comparison() -> Comparison:
    run = [result(f"i{k}", passed=k % 3 != 0, similarity=0.5) for k in range(20)]
    return compare(run, run, resamples=500)


def test_package_exports_the_three_renderers() -> None:
    assert reports.__all__ == ["render_html", "render_junit", "render_markdown"]


def test_junit_fails_exactly_the_regressed_scorers() -> None:
    comparison = regressed_comparison()
    assert [s.verdict for s in comparison.scorers] == ["regressed", "no significant change"]
    root = ET.fromstring(render_junit(comparison))
    (suite,) = root.iter("testsuite")
    assert suite.get("name") == "steward-eval-gate"
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"exact", "similarity"}
    failed = {name for name, case in cases.items() if case.find("failure") is not None}
    assert failed == {s.scorer for s in comparison.scorers if s.verdict == "regressed"}
    failure = cases["exact"].find("failure")
    assert failure is not None
    message = failure.get("message") or ""
    # 41 paired items: (40 + 1/2) / 41 → 11 / 41; the flaky item ties (fails), then passes.
    assert "0.988 → 0.268, difference -0.720" in message
    assert "pass → fail 30, fail → pass 1" in message
    assert "95% CI" in message
    assert "McNemar p < 0.0001" in message
    assert MALICIOUS in (failure.text or "")  # XML escaping keeps it as text
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["verdict"] == "regressed"


def test_junit_has_no_failure_when_nothing_regressed() -> None:
    root = ET.fromstring(render_junit(unchanged_comparison()))
    assert root.find(".//failure") is None
    assert root.find(".//testsuite").get("failures") == "0"  # type: ignore[union-attr]


def test_junit_replaces_characters_xml_cannot_carry() -> None:
    run = [result("bad\x00\x1bid", passed=True, similarity=0.9)]
    worse = [result("bad\x00\x1bid", passed=False, similarity=0.1)]
    ET.fromstring(render_junit(compare(run, worse, resamples=100)))  # parses


def test_markdown_has_the_scorer_table_and_caps_the_lists() -> None:
    text = render_markdown(regressed_comparison(), max_items=20)
    assert text.startswith("## Steward eval gate: regressed\n")
    assert (
        "| Scorer | Kind | Items | Baseline | Candidate | Difference | 95% CI | p-value | Verdict |"
        in text
    )
    exact_row = next(line for line in text.splitlines() if line.startswith("| exact |"))
    cells = [cell.strip() for cell in exact_row.strip("|").split("|")]
    assert cells[:6] == ["exact", "pass/fail", "41", "0.988", "0.268", "-0.720"]
    assert cells[-1] == "**regressed**"
    assert "pass → fail (30)" in text
    assert "and 10 more" in text
    assert "a\\|b" in text  # escaped, so it cannot split a table cell
    assert "<script" not in text
    assert "&lt;script&gt;" in text
    assert "flaky &amp; &lt;b&gt;" in text
    assert "Baseline only (1), left out of the statistics: gone\ufffd&lt;i&gt;" in text
    assert "| baseline | 42 | 43 | 0 | " in text
    assert not any(0x2600 <= ord(ch) <= 0x27BF or ord(ch) >= 0x1F000 for ch in text)  # no emoji


def test_markdown_of_an_unchanged_comparison() -> None:
    text = render_markdown(unchanged_comparison())
    assert "## Steward eval gate: no significant change" in text
    assert "Flipped items" not in text
    assert "Cost and latency" in text


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs


def parse(page: str) -> Tags:
    parser = Tags()
    parser.feed(page)
    parser.close()
    return parser


def test_html_is_self_contained_with_svg_plots_and_escapes_ids() -> None:
    page = render_html(regressed_comparison(margin=0.05))
    tags = parse(page)
    assert "<svg" in page
    assert tags.tags.count("svg") == 3  # the forest plot and a histogram per run
    assert "script" not in tags.tags
    assert {"circle", "line", "rect"} <= set(tags.tags)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    assert "\x00" not in page and "gone\ufffd&lt;i&gt;" in page
    # No external asset: no src, no href, no link to any other document.
    assert not [name for name, _ in tags.attributes if name in {"src", "href"}]
    assert "stroke-dasharray" in page and "-margin 0.05" in page
    assert "<title>Steward eval gate: regressed</title>" in page


@pytest.mark.parametrize("margin", [0.0, 0.05, 0.9])
def test_html_forest_plot_keeps_every_interval_and_the_margin_inside(margin: float) -> None:
    page = render_html(regressed_comparison(margin=margin))
    forest = page[page.index("<svg") : page.index("</svg>")]
    lines = [
        [float(v) for v in re.findall(r'x[12]="([-\d.]+)"', line)]
        for line in re.findall(r"<line [^>]*>", forest)
    ]
    zero, *rest = lines
    intervals = [x for line in rest[-2:] for x in line]  # one per scorer, drawn last
    assert all(180 <= x <= 720 - 170 for x in intervals)
    assert intervals[0] < intervals[1] < zero[0]  # exact: its whole interval below 0
    if margin:
        margin_x = rest[0][0]
        assert 180 <= margin_x < zero[0]
        assert (margin_x > intervals[1]) is (margin < 0.57)  # the interval's top is -0.573
    else:
        assert len(rest) == 2


def test_html_without_latency_says_so() -> None:
    base = [result(f"i{k}", passed=True, similarity=0.9) for k in range(5)]
    errored = [ItemResult(item_id=f"i{k}", repeat=0, error="boom") for k in range(5)]
    page = render_html(compare(base, errored, resamples=200))
    assert "No successful results in the candidate run." in page
    assert parse(page).tags.count("svg") == 2
