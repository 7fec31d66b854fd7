"""`steward drift MODEL`: a model's recent records against the baseline before them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from steward.cli.common import ConfigOption, fail, load, open_engine

if TYPE_CHECKING:
    from steward.config.loading import LoadedConfig
    from steward.observe.drift import DistributionDrift, DriftReport, RateDrift, TextDrift
    from steward.observe.stats import Summary
    from steward.payloads.keys import PayloadKeyring


def drift(
    model: Annotated[str, typer.Argument(help="The public model name.")],
    current_hours: Annotated[
        float, typer.Option(help="The current window: this many hours up to now.", min=0.001)
    ] = 24.0,
    baseline_days: Annotated[
        float,
        typer.Option(help="The baseline: this many days before the current window.", min=0.001),
    ] = 7.0,
    payloads: Annotated[
        bool,
        typer.Option(help="Read captured payloads for refusals, languages and embeddings."),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Token lengths (mean, p50, p95, KS test), error, cache hit and cost rates, and from
    captured payloads refusals, languages and response embeddings: then and now."""
    from datetime import UTC, datetime

    from steward.errors import StewardError
    from steward.observe.drift import drift_report
    from steward.observe.stored_payloads import LazyEmbedder, StoredPayloads

    loaded = load(config)
    try:
        engine = open_engine(config)
        source = StoredPayloads(engine, _keyring(loaded)) if payloads else None
        report = drift_report(
            engine,
            model,
            now=datetime.now(UTC),
            current_s=current_hours * 3600,
            baseline_s=baseline_days * 86_400,
            payloads=source,
            embedder=LazyEmbedder() if _has_minilm() else None,
        )
        engine.dispose()
    except StewardError as exc:
        fail(exc.message)
    if source is not None and source.unreadable:
        typer.echo(
            f"warning: {source.unreadable} payloads could not be decrypted and were left out",
            err=True,
        )
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    for line in _lines(report):
        typer.echo(line)


def _keyring(loaded: LoadedConfig) -> PayloadKeyring | None:
    from steward.errors import ConfigError
    from steward.payloads.keys import PayloadKeyring

    try:
        return PayloadKeyring.from_config(loaded.config.payloads)
    except ConfigError as exc:
        typer.echo(f"warning: {exc.message}; encrypted payloads are left out", err=True)
        return None


def _has_minilm() -> bool:
    from steward.embeddings.minilm import default_model_dir

    return default_model_dir() is not None


def _lines(report: DriftReport) -> list[str]:
    cur, base = report.current, report.baseline
    lines = [
        f"model {report.model}",
        f"  current   {cur.since:%Y-%m-%d %H:%M} to {cur.until:%Y-%m-%d %H:%M} UTC: "
        f"{report.current_requests} requests",
        f"  baseline  {base.since:%Y-%m-%d %H:%M} to {base.until:%Y-%m-%d %H:%M} UTC: "
        f"{report.baseline_requests} requests",
        "",
        f"  {'tokens':<10}{'window':<9}{'n':>8}{'mean':>10}{'p50':>10}{'p95':>10}"
        f"{'KS D':>8}{'p-value':>11}",
    ]
    for d in report.distributions:
        lines += _distribution(d)
    lines.append("")
    lines += [_rate(r) for r in report.rates]
    if report.text is None:
        lines.append("  response text: no captured payloads in both windows (see [models] capture)")
        return lines
    lines += _text(report.text)
    if report.embedding is not None:
        e = report.embedding
        lines.append(
            f"  embedding centroid shift {e.centroid_shift:.4f} (p = {e.p_value:.4g}; "
            f"{e.current_texts} vs {e.baseline_texts} responses)"
        )
    return lines


def _distribution(d: DistributionDrift) -> list[str]:
    def row(label: str, window: str, s: Summary) -> str:
        return (
            f"  {label:<10}{window:<9}{s.n:>8}{_num(s.mean):>10}{_num(s.p50):>10}{_num(s.p95):>10}"
        )

    ks = ""
    if d.ks_statistic is not None and d.ks_p_value is not None:
        p = "<1e-15" if d.ks_p_value < 1e-15 else f"{d.ks_p_value:.3g}"
        ks = f"{d.ks_statistic:>8.3f}{p:>11}"
    name = d.name.removesuffix("_tokens")
    return [row(name, "now", d.current) + ks, row("", "before", d.baseline)]


def _text(t: TextDrift) -> list[str]:
    def mix(languages: dict[str, float]) -> str:
        return ", ".join(f"{lang} {share:.0%}" for lang, share in list(languages.items())[:5])

    return [
        _rate(t.refusal_rate),
        f"  languages now     {mix(t.languages_current)}",
        f"  languages before  {mix(t.languages_baseline)}  (shift {t.language_shift:.3f})",
        f"  ({t.current_texts} responses now, {t.baseline_texts} before)",
    ]


def _rate(r: RateDrift) -> str:
    now = "-" if r.current is None else f"{r.current:.4g}"
    before = "-" if r.baseline is None else f"{r.baseline:.4g}"
    return f"  {r.name:<22} now {now:>10}   before {before:>10}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
