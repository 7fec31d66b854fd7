"""A running gateway evaluates its alert rules: failed calls fire a webhook, good ones resolve it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import openai
import pytest
from tests.conftest import GatewayFactory
from tests.fakes import FakeProvider, Fault
from tests.fakes.webhook_receiver import WebhookReceiver

RULES = """
[alerts]
evaluate_interval_s = 0.1
webhooks = [{url = "env:STEWARD_TEST_ALERT_HOOK"}, {url = "env:STEWARD_TEST_UNSET_HOOK"}]

[[alerts.rules]]
name = "gpt errors"
metric = "error_rate"
model = "gpt"
window_s = 60
condition = ">"
threshold = 0.5
min_requests = 3
"""


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        os.environ["STEWARD_TEST_ALERT_HOOK"] = server.url("/hook")
        yield server
        del os.environ["STEWARD_TEST_ALERT_HOOK"]


def test_the_gateway_fires_and_resolves(
    make_gateway: GatewayFactory, fake: FakeProvider, receiver: WebhookReceiver
) -> None:
    gateway, key = make_gateway(RULES)
    assert gateway.runtime.alerts is not None
    fake.script(*[Fault(status=500)] * 4)
    with openai.OpenAI(
        base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=10
    ) as client:
        for _ in range(4):
            with pytest.raises(openai.APIStatusError):
                client.chat.completions.create(
                    model="gpt", messages=[{"role": "user", "content": "hi"}]
                )
        gateway.flush()
        receiver.wait_for(1)
        assert [b["status"] for b in receiver.bodies("/hook")] == ["firing"]
        for _ in range(4):  # 4 failed of 8: 0.5 is no longer > 0.5
            client.chat.completions.create(
                model="gpt", messages=[{"role": "user", "content": "hi"}]
            )
        gateway.flush()
        receiver.wait_for(2)
    bodies = receiver.bodies("/hook")
    assert [b["status"] for b in bodies] == ["firing", "resolved"]
    assert bodies[0]["gateway"]["config_hash"] == gateway.runtime.config_hash
