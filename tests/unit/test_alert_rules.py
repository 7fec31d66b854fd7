"""Alert rules without I/O: the state machine, the config's checks, the webhook bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from steward.config.alerts import AlertRuleConfig
from steward.config.loading import load_config
from steward.errors import ConfigError
from steward.observe.alerts.payloads import AlertEvent, json_payload, render, slack_payload
from steward.observe.alerts.state import RuleTracker, holds

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_pending_for_for_s_then_firing_then_resolved() -> None:
    tracker = RuleTracker(for_s=60)
    assert tracker.step(True, at(0), firing=False) is None
    assert tracker.phase == "pending"
    assert tracker.step(True, at(59), firing=False) is None
    assert tracker.step(True, at(60), firing=False) == "fire"
    tracker.fired()
    assert tracker.phase == "firing"
    assert tracker.step(True, at(90), firing=True) is None
    assert tracker.phase == "firing"
    assert tracker.step(False, at(120), firing=True) == "resolve"
    assert tracker.phase == "ok"
    assert tracker.step(False, at(150), firing=False) is None


def test_a_dip_while_pending_starts_the_wait_again() -> None:
    tracker = RuleTracker(for_s=60)
    tracker.step(True, at(0), firing=False)
    assert tracker.step(False, at(30), firing=False) is None
    assert tracker.phase == "ok"
    assert tracker.step(True, at(40), firing=False) is None
    assert tracker.step(True, at(90), firing=False) is None
    assert tracker.step(True, at(100), firing=False) == "fire"


def test_for_s_zero_fires_on_the_first_evaluation() -> None:
    assert RuleTracker(for_s=0).step(True, at(0), firing=False) == "fire"


def test_an_episode_another_replica_opened_is_adopted_quietly() -> None:
    tracker = RuleTracker(for_s=0)
    assert tracker.step(True, at(0), firing=True) is None
    assert tracker.phase == "firing"


def test_an_episode_resolved_elsewhere_while_it_holds_here_waits_for_s_again() -> None:
    tracker = RuleTracker(for_s=30)
    tracker.fired()
    assert tracker.step(True, at(0), firing=False) is None
    assert tracker.phase == "pending"
    assert tracker.step(True, at(30), firing=False) == "fire"


def test_a_firing_episode_in_the_table_resolves_even_after_a_restart() -> None:
    # A new process (phase ok) finds the rule firing in the table and the condition gone.
    assert RuleTracker(for_s=0).step(False, at(0), firing=True) == "resolve"


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [(">", 0.5, False), (">", 0.51, True), (">=", 0.5, True), ("<", 0.5, False),
     ("<", 0.49, True), ("<=", 0.5, True)],
)  # fmt: skip
def test_conditions(condition: str, value: float, expected: bool) -> None:
    assert holds(condition, value, 0.5) is expected  # type: ignore[arg-type]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "steward.toml"
    path.write_text(text)
    return path


MODEL = '[providers.local]\ntype = "local"\n\n[models.gpt]\ntargets = ["local/smollm2"]\n\n'


def test_a_full_alerts_section_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MODEL
        + """
[alerts]
evaluate_interval_s = 10
webhooks = [{url = "env:SLACK_HOOK", format = "slack"}, {url = "https://example.com/hook"}]

[[alerts.rules]]
name = "errors"
metric = "error_rate"
model = "gpt"
window_s = 300
condition = ">"
threshold = 0.2
for_s = 120
min_requests = 20

[[alerts.rules]]
name = "drift"
metric = "drift"
model = "gpt"
condition = "<"
threshold = 0.01
drift_statistic = "p_value"
baseline_s = 86400
""",
    )
    alerts = load_config(path, environ={}).config.alerts
    assert [r.name for r in alerts.rules] == ["errors", "drift"]
    assert alerts.webhooks[0].format == "slack"
    assert alerts.webhooks[1].format == "json"
    assert alerts.rules[0].for_s == 120


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('name = "a"\nmetric = "errors"\ncondition = ">"\nthreshold = 1', "metric"),
        ('name = "a"\nmetric = "requests"\ncondition = "=="\nthreshold = 1', "condition"),
        ('name = "a"\nmetric = "error_rate"\ncondition = ">"\nthreshold = 5', "between 0 and 1"),
        ('name = "a"\nmetric = "drift"\ncondition = ">"\nthreshold = 0.3', "set model"),
        ('name = "a"\nmetric = "requests"\ncondition = ">"\nthreshold = 1\nbaseline_s = 60',
         "apply only to metric drift"),
        ('name = "a"\nmetric = "requests"\ncondition = ">"\nthreshold = 1\nmodel = "nope"',
         'model "nope" is not defined'),
        ('name = "a"\nmetric = "requests"\ncondition = ">"\nthreshold = 1\nwindow = 60',
         "unknown key"),
    ],
)  # fmt: skip
def test_bad_rules_are_refused_with_a_reason(tmp_path: Path, rule: str, message: str) -> None:
    path = write(tmp_path, MODEL + f"[[alerts.rules]]\n{rule}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path, environ={})


def test_rule_names_are_unique_and_webhooks_are_urls(tmp_path: Path) -> None:
    rule = '[[alerts.rules]]\nname = "a"\nmetric = "requests"\ncondition = ">"\nthreshold = 1\n'
    with pytest.raises(ConfigError, match="repeated: a"):
        load_config(write(tmp_path, rule + rule), environ={})
    with pytest.raises(ConfigError, match="env:NAME reference"):
        load_config(
            write(tmp_path, '[alerts]\nwebhooks = [{url = "hooks.slack.com/x"}]\n'), environ={}
        )


RULE = AlertRuleConfig(
    name="gpt errors",
    metric="error_rate",
    model="gpt",
    window_s=300,
    condition=">",
    threshold=0.2,
)


def event(status: str = "firing") -> AlertEvent:
    return AlertEvent(
        status=status,  # type: ignore[arg-type]
        rule=RULE,
        value=0.6,
        started_at=T0,
        resolved_at=at(600) if status == "resolved" else None,
        message="gpt errors: error_rate 0.6 > 0.2 over the last 5 min",
        config_hash="0123456789abcdef",
    )


def test_json_payload_has_every_field() -> None:
    assert json_payload(event("resolved")) == {
        "status": "resolved",
        "rule": "gpt errors",
        "metric": "error_rate",
        "value": 0.6,
        "threshold": 0.2,
        "condition": ">",
        "window_s": 300.0,
        "model": "gpt",
        "started_at": "2025-03-01T12:00:00+00:00",
        "resolved_at": "2025-03-01T12:10:00+00:00",
        "message": "gpt errors: error_rate 0.6 > 0.2 over the last 5 min",
        "gateway": {"config_hash": "0123456789abcdef"},
    }
    assert json_payload(event())["resolved_at"] is None


def test_slack_payload_is_text_and_blocks() -> None:
    body = slack_payload(event())
    assert body["text"].startswith(":rotating_light: [FIRING] gpt errors: ")
    types = [block["type"] for block in body["blocks"]]
    assert types == ["header", "section", "section", "context"]
    assert body["blocks"][1]["text"] == {"type": "mrkdwn", "text": event().message}
    fields = " ".join(f["text"] for f in body["blocks"][2]["fields"])
    assert "`error_rate`" in fields
    assert "`> 0.2`" in fields
    assert "0123456789abcdef" in body["blocks"][3]["elements"][0]["text"]
    assert slack_payload(event("resolved"))["text"].startswith(":white_check_mark: [RESOLVED]")
    assert render(event(), "slack").startswith(b'{"text":')
