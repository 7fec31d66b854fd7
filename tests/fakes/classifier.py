"""A tiering classifier that logs: a log line emitted inside a request, for the logging tests.

[models.NAME.tiering]
classifier = "tests.fakes.classifier:classify"
"""

from __future__ import annotations

import structlog

from steward.wire.openai import ChatRequest

log = structlog.get_logger("tests.classifier")


def classify(request: ChatRequest) -> str | None:
    log.info("classifier.asked", messages=len(request.messages))
    return None
