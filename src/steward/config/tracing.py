"""The `[tracing]` section: OpenTelemetry traces of every call, exported over OTLP/HTTP."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from steward.config.section import Section

__all__ = ["SPANNABLE_STAGES", "TracingConfig"]

SPANNABLE_STAGES = ("auth", "parse", "limits", "cache", "route")


class TracingConfig(Section):
    """Off by default; when off the request path creates no span at all."""

    enabled: bool = False
    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    """The collector's OTLP/HTTP traces URL, path included."""
    service_name: str = "steward"
    capture_content: bool = False
    """Add the request's messages and the answer to the request span, as an event: only for
    models whose capture policy is `full` (`[models.NAME] capture`)."""
    sample_ratio: float = Field(default=1.0, ge=0, le=1)
    """Share of calls traced when the caller sends no `traceparent`; with one, its flag decides."""
    stage_spans: tuple[str, ...] = ("auth", "limits", "cache", "route")
    """Stages that get a span of their own (each costs CPU on every traced call)."""
    stage_span_min_us: float = Field(default=0.0, ge=0)
    """Leave out the span of a stage (but `route`) whose own work took less than this and did
    not fail: an in-memory key lookup tells little and costs as much as a Redis round trip's."""
    batch_delay_ms: float = Field(default=5000.0, gt=0)
    """Longest a finished span waits before it is exported."""
    batch_max_spans: int = Field(default=512, ge=1)
    """Spans per export request."""
    queue_max_spans: int = Field(default=8192, ge=1)
    """Spans held while the collector is slow or down; beyond this new spans are dropped."""
    export_timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("stage_spans")
    @classmethod
    def _known_stages(cls, stages: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [s for s in stages if s not in SPANNABLE_STAGES]
        if unknown:
            raise ValueError(
                f"stage_spans: {', '.join(unknown)} cannot have spans;"
                f" choose from {', '.join(SPANNABLE_STAGES)}"
            )
        return stages

    @model_validator(mode="after")
    def _batch_fits_queue(self) -> TracingConfig:
        if self.batch_max_spans > self.queue_max_spans:
            raise ValueError("[tracing] batch_max_spans must not exceed queue_max_spans")
        return self
