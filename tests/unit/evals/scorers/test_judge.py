"""LLM-as-judge: the prompt it sends, verdicts read from messy answers, the one retry."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from steward.errors import UpstreamTimeoutError
from steward.evals.results import Item, Score
from steward.evals.scorers import DEFAULT_RUBRIC, JudgeScorer, parse_verdict

MODEL = "judge-model"


class ScriptedJudge:
    """A `Completer` that answers from a script and records every prompt it was sent."""

    def __init__(self, answers: Sequence[str | Exception]) -> None:
        self._answers = list(answers)
        self.calls: list[tuple[str, list[dict[str, object]]]] = []

    async def __call__(self, model: str, messages: list[dict[str, object]]) -> str:
        self.calls.append((model, messages))
        answer = self._answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


ITEM = Item(
    id="capital",
    messages=[{"role": "user", "content": "What is the capital of France?"}],
    expected="Paris",
)


def judge(
    fake: ScriptedJudge,
    output: str = "Paris.",
    item: Item = ITEM,
    *,
    rubric: str = DEFAULT_RUBRIC,
    pass_score: int = 4,
) -> Score:
    scorer = JudgeScorer(model=MODEL, completer=fake, rubric=rubric, pass_score=pass_score)
    return asyncio.run(scorer.score(output, item))


@pytest.mark.parametrize(
    ("answer", "score", "reason"),
    [
        ('{"score": 4, "reason": "Mostly right."}', 4, "Mostly right."),
        ('```json\n{"score": 5, "reason": "Exact."}\n```', 5, "Exact."),
        ('```\n{"score": 1,\n "reason": "Off topic"}\n```', 1, "Off topic"),
        ('My verdict: {"score": 2, "reason": "Wrong city."} Hope it helps.', 2, "Wrong city."),
        ("{'score': 3, 'reason': 'Partly right'}", 3, "Partly right"),
        ('{"score": 4, "reason": "ok",}', 4, "ok"),
        ("{'score': 5, 'reason': \"It's right\"}", 5, "It's right"),
        ("{'score': 4, 'reason': 'It's fine'}", 4, "It's fine"),
        ('{score: 4, reason: "keys unquoted"}', 4, "keys unquoted"),
        ('{"score": "4", "reason": "a string score"}', 4, "a string score"),
        ('{"Rating": 2, "Explanation": "off"}', 2, "off"),
        ("Score: 4/5", 4, "Score: 4/5"),
        (
            "**Score:** 3\nThe answer misses the river.",
            3,
            "**Score:** 3 The answer misses the river.",
        ),
        ("I would rate this 4 out of 5.", 4, "I would rate this 4 out of 5."),
        ("Rating: 2/5, the answer is off.", 2, "Rating: 2/5, the answer is off."),
        ("4", 4, "4"),
        ("  5.\n", 5, "5."),
        ("Score: 4.5/5", 4.5, "Score: 4.5/5"),
    ],
)
def test_verdicts_are_read_from_messy_answers(answer: str, score: float, reason: str) -> None:
    verdict = parse_verdict(answer)

    assert verdict is not None
    assert (verdict.score, verdict.reason) == (score, reason)


@pytest.mark.parametrize(
    "answer",
    [
        "The answer looks good to me.",
        "Score: 8/10",
        '{"score": 0, "reason": "below the scale"}',
        '{"score": 7}',
        '{"score": true}',
        "score: 9",
        "",
    ],
)
def test_answers_without_a_verdict_on_the_scale(answer: str) -> None:
    assert parse_verdict(answer) is None


@pytest.mark.parametrize(
    ("answer", "value", "passed"),
    [("5", 1.0, True), ("4", 0.75, True), ("3", 0.5, False), ("1", 0.0, False)],
)
def test_value_and_default_pass_score(answer: str, value: float, passed: bool) -> None:
    score = judge(ScriptedJudge([answer]))

    assert (score.value, score.passed) == (value, passed)


def test_pass_score_is_configurable_and_detail_gives_the_reason() -> None:
    score = judge(ScriptedJudge(['{"score": 3, "reason": "Right, terse."}']), pass_score=3)

    assert (score.value, score.passed) == (0.5, True)
    assert score.detail == "judge-model gave 3/5: Right, terse."


def test_prompt_holds_rubric_input_expected_and_output() -> None:
    fake = ScriptedJudge(["5"])

    judge(fake, output="It is Paris.")

    [(model, messages)] = fake.calls
    system, user = messages
    assert model == MODEL
    assert system["role"] == "system"
    assert DEFAULT_RUBRIC in str(system["content"])
    assert '{"score": <integer 1-5>' in str(system["content"])
    assert user == {
        "role": "user",
        "content": "<input>\nuser: What is the capital of France?\n</input>\n\n"
        "<expected>\nParis\n</expected>\n\n<output>\nIt is Paris.\n</output>",
    }


def test_prompt_with_a_custom_rubric_variables_and_no_expected() -> None:
    fake = ScriptedJudge(["4"])
    item = Item(id="tone", variables={"customer": "Ada", "issue": "late parcel"})

    judge(fake, output="Sorry, Ada!", item=item, rubric="5: warm and apologetic. 1: rude.")

    system, user = fake.calls[0][1]
    assert "5: warm and apologetic. 1: rude." in str(system["content"])
    assert DEFAULT_RUBRIC not in str(system["content"])
    assert "<expected>" not in str(user["content"])
    assert '"customer": "Ada"' in str(user["content"])


def test_unreadable_answer_is_asked_again_once_more_strictly() -> None:
    fake = ScriptedJudge(["Looks fine to me!", '{"score": 5, "reason": "Correct."}'])

    score = judge(fake)

    assert (score.value, score.passed) == (1.0, True)
    assert len(fake.calls) == 2
    first, retry = fake.calls[0][1], fake.calls[1][1]
    assert retry[: len(first)] == first
    assert retry[len(first)] == {"role": "assistant", "content": "Looks fine to me!"}
    assert retry[-1]["role"] == "user"
    assert "only a JSON object" in str(retry[-1]["content"])


def test_two_unreadable_answers_fail_without_raising() -> None:
    fake = ScriptedJudge(["Looks fine to me!", "Honestly, it is great."])

    score = judge(fake)

    assert len(fake.calls) == 2
    assert score == Score(
        value=0.0, passed=False, detail="judge answer unparseable: 'Honestly, it is great.'"
    )


def test_a_failed_judge_call_propagates_for_the_runner_to_record() -> None:
    fake = ScriptedJudge([UpstreamTimeoutError("judge-model timed out")])

    with pytest.raises(UpstreamTimeoutError):
        judge(fake)
