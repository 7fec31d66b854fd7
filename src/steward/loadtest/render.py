"""The load test report as text: a header, one column per window, then notes on errors and cost."""

from __future__ import annotations

from collections.abc import Callable

from steward.loadtest.report import LATE_MS, Distribution, LoadReport, Window

__all__ = ["render_text"]

Row = tuple[str, Callable[[Window], str]]


def render_text(report: LoadReport) -> list[str]:
    lines = _header(report)
    windows = _columns(report)
    if not windows:
        return [*lines, "", "nothing was sent"]
    names = [name for name, _ in windows]
    lines.append("")
    if any(names):
        lines.append(f"{'':<34}" + "".join(f"{name:>16}" for name in names))
    for label, cell in _rows(report, [w for _, w in windows]):
        lines.append(f"{label:<34}" + "".join(f"{cell(w):>16}" for _, w in windows))
    return lines + _notes(windows[-1][1])


def _header(report: LoadReport) -> list[str]:
    plan = report.plan
    if plan.rps is not None:
        load = (
            f"open loop at {plan.rps:g} rps ({plan.arrivals} arrivals, "
            f"at most {plan.max_in_flight} in flight)"
        )
    else:
        load = f"closed loop of {plan.concurrency} concurrent requests"
    ramp = f" after a {plan.ramp_s:g} s ramp" if plan.ramp_s else ""
    lines = [
        f"steward loadtest: model {report.model} at {report.base_url}"
        + (", streamed" if report.stream else ""),
        f"{load}, {plan.duration_s:g} s{ramp}",
        f"started {report.started_at:%Y-%m-%d %H:%M:%S} UTC, took {report.elapsed_s:.2f} s",
    ]
    if report.interrupted:
        lines.append(
            f"interrupted: sending stopped early; {report.unfinished} requests were still in "
            "flight and are not counted"
        )
    return lines


def _columns(report: LoadReport) -> list[tuple[str, Window]]:
    columns: list[tuple[str, Window]] = []
    if report.steady is not None and report.plan.ramp_s > 0:
        columns.append(("steady state", report.steady))
    if report.overall is not None:
        columns.append(("overall" if columns else "", report.overall))
    return columns


def _rows(report: LoadReport, windows: list[Window]) -> list[Row]:
    open_loop = report.plan.mode == "open"
    rows: list[Row] = [("window (s)", lambda w: f"{w.length_s:.2f}")]
    if open_loop:
        rows += [
            ("offered rate (rps)", lambda w: _num(w.offered_rps)),
            ("sent rate (rps)", lambda w: _num(w.sent_rps)),
        ]
    rows += [
        ("throughput: answers (rps)", lambda w: _num(w.throughput_rps)),
        ("throughput: successes (rps)", lambda w: _num(w.ok_rps)),
        ("requests sent", lambda w: str(w.requests)),
    ]
    if open_loop:
        rows += [
            ("dropped (max in flight)", lambda w: str(w.dropped)),
            (f"sent late (> {LATE_MS:g} ms)", lambda w: str(w.late)),
            ("send lag p99 (ms)", lambda w: _stat(w.send_lag_ms, "p99")),
        ]
    rows += [
        ("succeeded", lambda w: str(w.ok)),
        ("failed", lambda w: str(w.errors)),
        ("error rate", lambda w: _pct(w.error_rate)),
    ]
    rows += [(f"  {_status(code)}", _error_cell(code)) for code in _statuses(windows)]
    rows += _latency_rows("latency", lambda w: w.latency_ms)
    if report.stream:
        rows += _latency_rows("time to first token", lambda w: w.ttft_ms)
    rows += [
        ("input tokens (total)", lambda w: str(w.tokens.input)),
        ("output tokens (total)", lambda w: str(w.tokens.output)),
        ("input tokens per request", lambda w: _num(w.tokens.input_per_request)),
        ("output tokens per request", lambda w: _num(w.tokens.output_per_request)),
        ("cost per 1,000 requests", lambda w: _usd(w.cost.per_1k_requests_usd)),
    ]
    monthly = windows[0].cost.monthly_requests
    rows.append((f"monthly cost at {monthly:,} requests", lambda w: _usd(w.cost.monthly_usd)))
    return rows


def _latency_rows(name: str, pick: Callable[[Window], Distribution | None]) -> list[Row]:
    def cell(stat: str) -> Callable[[Window], str]:
        return lambda w: _stat(pick(w), stat)

    return [(f"{name} {stat} (ms)", cell(stat)) for stat in ("p50", "p95", "p99", "mean", "max")]


def _statuses(windows: list[Window]) -> list[int]:
    return sorted({code for w in windows for code in w.errors_by_status})


def _error_cell(code: int) -> Callable[[Window], str]:
    def cell(w: Window) -> str:
        count = w.errors_by_status.get(code, 0)
        return f"{count} ({count / w.requests:.1%})" if w.requests else "0"

    return cell


def _status(code: int) -> str:
    return "no HTTP answer" if code == 0 else f"HTTP {code}"


def _notes(last: Window) -> list[str]:
    lines: list[str] = []
    for code, message in last.error_examples.items():
        lines.append(f"{_status(code)}, e.g.: {message}")
    cost = last.cost
    if cost.source is None:
        lines.append(
            "cost: unknown; no reply carried a cost (x-steward-cost-usd) and none could be "
            "priced from its tokens and the config's prices"
        )
    else:
        how = {
            "gateway": "as the gateway priced each reply (x-steward-cost-usd)",
            "estimated": "estimated from each reply's tokens and the config's prices",
            "mixed": "from the gateway's cost header where sent, else estimated from tokens",
        }[cost.source]
        unpriced = f"; {cost.unpriced} unpriced successes counted at the mean" * bool(cost.unpriced)
        lines.append(
            f"cost: {how}, {cost.priced} replies priced{unpriced}; failed requests count as "
            f"free; the monthly figure assumes {cost.monthly_requests:,} requests a month"
        )
    return ["", *lines] if lines else []


def _stat(d: Distribution | None, name: str) -> str:
    return "-" if d is None else f"{getattr(d, name):.1f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _usd(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value == 0 or value >= 1:
        return f"${value:,.2f}"
    return f"${value:.4f}" if value >= 0.01 else f"${value:.6f}"
