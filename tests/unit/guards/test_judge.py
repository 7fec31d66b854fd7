"""The judge layer's reading of an answer, and the settings that make no sense refused."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from steward.config.guards_input import InjectionJudgeConfig
from steward.config.loading import load_config
from steward.errors import ConfigError
from steward.guards.injection.judge import JudgeLayer, judge_score


def body(content: str, logprobs: object = None) -> dict[str, object]:
    return {"choices": [{"message": {"content": content}, "logprobs": logprobs}]}


def test_top_logprobs_give_yes_against_no() -> None:
    tops = [
        {"token": "Yes", "logprob": math.log(0.6)},
        {"token": " no", "logprob": math.log(0.2)},
        {"token": "Maybe", "logprob": math.log(0.1)},
        {"token": "yes", "logprob": math.log(0.05)},
    ]
    lp = {"content": [{"token": "Yes", "logprob": math.log(0.6), "top_logprobs": tops}]}
    assert judge_score(body("Yes", lp)) == pytest.approx(0.65 / 0.85)


def test_the_chosen_token_alone_bounds_the_other_answer() -> None:
    yes = {"content": [{"token": " yes", "logprob": math.log(0.7), "top_logprobs": []}]}
    no = {"content": [{"token": "No", "logprob": math.log(0.9), "top_logprobs": []}]}
    assert judge_score(body("yes", yes)) == pytest.approx(0.7)
    assert judge_score(body("No", no)) == pytest.approx(0.1)


def test_without_logprobs_the_text_decides_and_anything_else_is_no_verdict() -> None:
    assert judge_score(body("Yes.")) == 1.0
    assert judge_score(body("no, it is not")) == 0.0
    assert judge_score(body("I cannot say")) is None
    assert judge_score(body("")) is None
    assert judge_score({"choices": []}) is None


def test_a_long_message_is_judged_on_its_start_and_end() -> None:
    layer = JudgeLayer(InjectionJudgeConfig(model="judge", max_chars=200))
    text = "A" * 150 + "MIDDLE" + "Z" * 150
    asked = layer.request(text).messages[1].content
    assert isinstance(asked, str)
    assert "A" * 100 in asked and "Z" * 100 in asked and "MIDDLE" not in asked


def test_outside_a_gateway_the_judge_is_unavailable() -> None:
    layer = JudgeLayer(InjectionJudgeConfig(model="judge"))
    [verdict] = asyncio.run(layer.judge(["text"]))
    assert verdict.score is None and verdict.problem == "no gateway to ask"


MODELS = """
[providers.up]
type = "openai"
base_url = "http://127.0.0.1:9/v1"

[models.judge]
targets = ["up/big"]

[models.app]
targets = ["up/small"]

[models.app.guards.injection]
"""


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ('layers = ["heuristics", "judge"]\n', 'the "judge" layer needs a judge model'),
        (
            'layers = ["heuristics"]\n[models.app.guards.injection.judge]\nmodel = "judge"\n',
            '"judge" is not in layers',
        ),
        (
            'layers = ["heuristics", "judge"]\n[models.app.guards.injection.judge]\n'
            'model = "nobody"\n',
            'names model "nobody", which is not defined under \\[models\\]',
        ),
        (
            'layers = ["heuristics", "judge"]\nthreshold = 0.4\n'
            '[models.app.guards.injection.judge]\nmodel = "judge"\nband = 0.5\n',
            "judge band 0.5 must be below the threshold 0.4",
        ),
        (
            'layers = ["judge"]\n[models.app.guards.injection.judge]\nmodel = "judge"\n',
            "needs another layer",
        ),
    ],
)
def test_judge_settings_that_cannot_work_are_refused(
    tmp_path: Path, settings: str, problem: str
) -> None:
    path = tmp_path / "steward.toml"
    path.write_text(MODELS + settings)
    with pytest.raises(ConfigError, match=problem):
        load_config(path, environ={})
