"""`steward serve`: run the gateway."""

from __future__ import annotations

import signal
import sys
from typing import Annotated

import typer

from steward.cli.common import ConfigOption, fail, load


def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Override [server] host.")] = None,
    port: Annotated[int | None, typer.Option(help="Override [server] port.")] = None,
) -> None:
    """Serve the OpenAI- and Anthropic-compatible API."""
    loaded = load(config, **{"server.host": host, "server.port": port})
    import uvicorn

    from steward.errors import StewardError
    from steward.observe.logging import configure_logging
    from steward.runtime import Runtime
    from steward.server.app import create_app

    cfg = loaded.config
    configure_logging(cfg.logging.level, cfg.logging.format)
    sys.setswitchinterval(cfg.server.switch_interval_ms / 1000.0)
    try:
        runtime = Runtime.build(loaded)
    except StewardError as exc:
        fail(exc.message)
    # uvicorn re-raises the signal it shut down on; a graceful stop on SIGTERM should exit 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    uvicorn.run(
        create_app(runtime),
        host=cfg.server.host,
        port=cfg.server.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(cfg.server.shutdown_timeout_s) or None,
        server_header=False,
        proxy_headers=False,
    )
