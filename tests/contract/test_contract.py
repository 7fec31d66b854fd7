"""Meta-tests: settings and commands documented, public API pinned, files small."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main
from pydantic import BaseModel

import steward
import steward.errors
from steward.cli.main import app
from steward.config import alerts as alert_config
from steward.config import guards_input, guards_output, guards_pii, schema
from steward.pipeline.registry import BUILTIN_STAGES

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"


def documented_keys() -> set[str]:
    text = (DOCS / "configuration.md").read_text()
    return set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))


def test_every_setting_is_documented() -> None:
    sections: list[type[BaseModel]] = [
        schema.ServerConfig,
        schema.StorageConfig,
        schema.AuthConfig,
        schema.LoggingConfig,
        schema.PipelineConfig,
        schema.OpenAIProviderConfig,
        schema.AnthropicProviderConfig,
        schema.LocalProviderConfig,
        schema.ModelConfig,
        schema.TargetConfig,
        schema.TieringConfig,
        schema.ModelCacheConfig,
        schema.BreakerConfig,
        schema.RedisConfig,
        schema.CacheConfig,
        schema.PayloadsConfig,
        schema.MetricsConfig,
        schema.TracingConfig,
        schema.AlertsConfig,
        schema.EvalsConfig,
        alert_config.AlertRuleConfig,
        alert_config.WebhookConfig,
        guards_output.OutputGuardsConfig,
        guards_output.ConfidenceConfig,
        guards_input.InjectionGuardConfig,
        guards_input.SecretsGuardConfig,
        guards_input.LimitsGuardConfig,
        guards_input.TopicsGuardConfig,
        guards_pii.PIIGuardConfig,
    ]
    fields = {
        field.alias or name for model in sections for name, field in model.model_fields.items()
    } - {"type"}
    missing = fields - documented_keys()
    assert not missing, f"settings missing from docs/configuration.md: {sorted(missing)}"
    top = set(schema.StewardConfig.model_fields)
    text = (DOCS / "configuration.md").read_text()
    assert all(f"[{name}" in text for name in top)


def test_every_cli_command_is_documented() -> None:
    docs = (ROOT / "README.md").read_text() + "".join(
        path.read_text() for path in sorted(DOCS.glob("*.md"))
    )
    command = typer.main.get_command(app)
    names: list[str] = []
    for name, sub in command.commands.items():  # type: ignore[attr-defined]
        children = getattr(sub, "commands", None)
        names += (
            [f"steward {name} {child}" for child in children] if children else [f"steward {name}"]
        )
    missing = [n for n in names if n not in docs]
    assert not missing, f"commands missing from README.md and docs/: {missing}"


def test_config_knows_exactly_the_registered_stages() -> None:
    assert set(BUILTIN_STAGES) == schema.KNOWN_STAGES
    assert set(schema.DEFAULT_STAGES) <= schema.KNOWN_STAGES


def test_every_stage_is_documented() -> None:
    text = (DOCS / "architecture.md").read_text()
    assert all(f"`{name}`" in text for name in BUILTIN_STAGES)


def test_public_api_is_pinned() -> None:
    assert steward.__all__ == ["StewardError", "__version__"]
    assert sorted(steward.errors.__all__) == sorted(
        name
        for name, value in vars(steward.errors).items()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and value.__module__ == "steward.errors"
    )


def test_every_error_is_in_the_tree_drawing() -> None:
    doc = steward.errors.__doc__ or ""
    assert all(name in doc for name in steward.errors.__all__)


def test_no_file_is_too_big_and_no_function_too_long() -> None:
    import ast

    for path in (ROOT / "src").rglob("*.py"):
        text = path.read_text()
        assert text.count("\n") <= 800, f"{path} has more than 800 lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                assert length <= 80, f"{path}:{node.lineno} {node.name} has {length} lines"


def test_importing_steward_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, steward, steward.cli.main;"
        "heavy = [m for m in ('llama_cpp', 'numpy', 'sqlalchemy', 'httptools', 'tokenizers') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at CLI start: {out.stdout.strip()}"
