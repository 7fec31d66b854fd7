"""The gateway on PostgreSQL: keys and request records in a real server."""

from __future__ import annotations

import openai
import pytest
from tests.integration.records import record_for


@pytest.mark.postgres
def test_records_land_in_postgres(make_gateway: object, fresh_postgres_url: str) -> None:
    gw, key = make_gateway(storage_url=fresh_postgres_url)  # type: ignore[operator]
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="gpt", messages=[{"role": "user", "content": "pg"}]
        )
        list(
            c.chat.completions.create(
                model="gpt", messages=[{"role": "user", "content": "s"}], stream=True
            )
        )
    record = record_for(gw, raw.headers["x-request-id"])
    assert record.status == 200 and record.output_tokens == 2
    assert gw.runtime.engine.dialect.name == "postgresql"
