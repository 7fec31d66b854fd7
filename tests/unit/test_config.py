"""Config loading: strict keys with hints, env overrides, secret references, the config hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from steward.config.loading import load_config
from steward.config.secrets import resolve_secret
from steward.errors import ConfigError

STARTER = Path(__file__).parents[2] / "src/steward/config/starter.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "steward.toml"
    path.write_text(text)
    return path


def test_the_starter_config_is_valid() -> None:
    loaded = load_config(STARTER, environ={})
    targets = loaded.config.models["assistant"].targets
    assert [t.target for t in targets] == ["openai/gpt-4o-mini", "local/smollm2"]
    assert set(loaded.config.providers) == {"local", "openai", "claude"}


def test_unknown_key_names_file_key_and_closest_match(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nprot = 9\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = info.value.message
    assert str(path) in message
    assert "server.prot: unknown key; did you mean 'port'?" in message


def test_unknown_key_inside_a_provider(tmp_path: Path) -> None:
    path = write(tmp_path, '[providers.up]\ntype = "openai"\nbase_ur = "http://x/v1"\n')
    with pytest.raises(
        ConfigError, match=r"providers\.up\.base_ur: unknown key; did you mean 'base_url'"
    ):
        load_config(path, environ={})


def test_literal_secrets_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[providers.up]\ntype = "openai"\napi_key = "sk-live-123"\n')
    with pytest.raises(ConfigError, match="env:OPENAI_API_KEY"):
        load_config(path, environ={})


def test_targets_must_name_defined_providers(tmp_path: Path) -> None:
    path = write(tmp_path, '[models.a]\ntargets = ["nowhere/x"]\n')
    with pytest.raises(ConfigError, match='provider "nowhere"'):
        load_config(path, environ={})


def test_env_overrides_file_and_cli_overrides_env(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 1000\n")
    env = {"STEWARD_SERVER__PORT": "2000", "STEWARD_STORAGE__URL": "sqlite:///x.db"}
    assert load_config(path, environ=env).config.server.port == 2000
    assert load_config(path, environ=env).config.storage.url == "sqlite:///x.db"
    loaded = load_config(path, environ=env, overrides={"server.port": 3000})
    assert loaded.config.server.port == 3000


def test_env_override_with_unknown_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ConfigError, match=r"server\.prot: unknown key"):
        load_config(path, environ={"STEWARD_SERVER__PROT": "1"})


def test_pipeline_order_is_validated(tmp_path: Path) -> None:
    path = write(tmp_path, '[pipeline]\nstages = ["auth", "record", "parse", "route"]\n')
    with pytest.raises(ConfigError, match='"record" must come first'):
        load_config(path, environ={})
    path = write(tmp_path, '[pipeline]\nstages = ["record", "parse", "guards", "route"]\n')
    with pytest.raises(ConfigError, match="unknown stage"):
        load_config(path, environ={})
    path = write(tmp_path, '[pipeline]\nstages = ["record", "parse", "cache", "auth", "route"]\n')
    with pytest.raises(ConfigError, match='"cache" must come after "auth"'):
        load_config(path, environ={})
    path = write(tmp_path, '[pipeline]\nstages = ["record", "parse", "cache", "route"]\n')
    assert "cache" in load_config(path, environ={}).config.pipeline.stages


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[server\n"), environ={})
    with pytest.raises(ConfigError, match="steward init"):
        load_config(tmp_path / "absent.toml", environ={})


def test_config_hash_changes_with_config(tmp_path: Path) -> None:
    a = load_config(write(tmp_path, "[server]\nport = 1\n"), environ={}).config.config_hash()
    b = load_config(write(tmp_path, "[server]\nport = 2\n"), environ={}).config.config_hash()
    assert a != b
    assert len(a) == 16


def test_secret_references() -> None:
    assert resolve_secret("env:K", {"K": "v"}) == "v"
    assert resolve_secret("env:K", {"K": ""}) is None
    assert resolve_secret("env:K", {}) is None
    assert resolve_secret(None, {}) is None
