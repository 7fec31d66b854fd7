"""The bundled local model answers a real prompt through the gateway, offline."""

from __future__ import annotations

import openai
import pytest
from tests.integration.records import latest

LOCAL = """
[providers.local]
type = "local"
n_ctx = 1024

[models.local]
targets = ["local/smollm2"]

[models.minilm]
targets = ["local/minilm"]
"""


@pytest.mark.slow
def test_local_model_answers_through_the_gateway(make_gateway: object) -> None:
    gw, key = make_gateway(LOCAL)  # type: ignore[operator]
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=120) as c:
        reply = c.chat.completions.create(
            model="local",
            messages=[{"role": "user", "content": "What is 2 + 2? Answer with the number."}],
            max_tokens=24,
            temperature=0,
        )
        streamed = list(
            c.chat.completions.create(
                model="local",
                messages=[{"role": "user", "content": "Say hi."}],
                max_tokens=8,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        vectors = c.embeddings.create(
            model="minilm", input=["cancel my order", "cancel my subscription"]
        )
    assert "4" in (reply.choices[0].message.content or "")
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    assert "".join(ch.choices[0].delta.content or "" for ch in streamed if ch.choices)
    assert streamed[-1].usage is not None and streamed[-1].usage.completion_tokens > 0
    assert len(vectors.data[0].embedding) == 384
    record = latest(gw)
    assert record.target == "local/minilm" and record.status == 200
