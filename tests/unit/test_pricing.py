"""Prices per target (config over catalog, longest prefix, local is free) and call costs."""

from __future__ import annotations

import pytest

from steward.config.schema import PriceConfig, StewardConfig
from steward.costs import CATALOG, FREE, Price, Pricing
from steward.routing.targets import Target
from steward.wire.anthropic_outbound import usage_from_anthropic
from steward.wire.openai import TokenUsage

TYPES = {"oa": "openai", "ob": "openai", "an": "anthropic", "llama": "local"}


def pricing(configured: dict[str, PriceConfig] | None = None) -> Pricing:
    return Pricing(configured or {}, TYPES)


def conf(
    inp: float, out: float, cached: float | None = None, reasoning: float | None = None
) -> PriceConfig:
    return PriceConfig(
        input_per_mtok=inp,
        output_per_mtok=out,
        cached_input_per_mtok=cached,
        reasoning_per_mtok=reasoning,
    )


def test_the_catalog_prices_the_common_models() -> None:
    wanted = [
        *("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"),
        *("o1", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano"),
        *("text-embedding-3-small", "text-embedding-3-large"),
        *("claude-3-5-haiku", "claude-3-5-sonnet", "claude-3-7-sonnet", "claude-sonnet-4"),
        *("claude-opus-4", "claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1"),
    ]
    assert [name for name in wanted if name not in CATALOG] == []
    listed = CATALOG["claude-sonnet-4-5"]
    assert (listed.input, listed.output, listed.cached_input) == (3.0, 15.0, 0.30)


def test_a_target_key_beats_a_model_key_beats_the_catalog() -> None:
    table = pricing({"oa/gpt-4o": conf(1, 2), "gpt-4o": conf(3, 4)})
    assert table.price(Target("oa", "gpt-4o")) == Price(1, 2, 1, 2)
    assert table.price(Target("ob", "gpt-4o")) == Price(3, 4, 3, 4)
    assert table.price(Target("ob", "gpt-4o-mini")) == Price(0.15, 0.60, 0.075, 0.60)


def test_a_configured_model_overrides_the_catalog_for_its_dated_ids_too() -> None:
    table = pricing({"gpt-4o": conf(3, 4, 1)})
    assert table.price(Target("oa", "gpt-4o-2024-08-06")) == Price(3, 4, 1, 4)
    # A longer known name is more specific than the configured shorter one.
    assert table.price(Target("oa", "gpt-4o-mini-2024-07-18")) == Price(0.15, 0.60, 0.075, 0.60)


@pytest.mark.parametrize(
    ("model", "base"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("openai/gpt-4o", "gpt-4o"),
        ("GPT-4o", "gpt-4o"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
    ],
)
def test_dated_ids_take_the_price_of_their_longest_known_prefix(model: str, base: str) -> None:
    assert pricing().price(Target("oa", model)) == Price.from_list(CATALOG[base])


def test_a_prefix_matches_only_at_a_separator() -> None:
    table = pricing()
    assert table.price(Target("oa", "gpt-4.5-preview")) is None
    assert table.price(Target("oa", "o10")) is None
    assert table.price(Target("oa", "ft:gpt-4o-mini-2024-07-18:org::abc")) is None


def test_a_snapshot_priced_unlike_its_base_model_has_its_own_entry() -> None:
    # gpt-4o-2024-05-13 costs twice gpt-4o and has no cache discount.
    assert pricing().price(Target("oa", "gpt-4o-2024-05-13")) == Price(5, 15, 5, 15)


def test_local_providers_are_free_unless_configured() -> None:
    assert pricing().price(Target("llama", "qwen2.5-0.5b")) is FREE
    assert pricing().price(Target("llama", "gpt-4o")) is FREE
    configured = pricing({"llama/qwen2.5-0.5b": conf(0.01, 0.02)})
    assert configured.price(Target("llama", "qwen2.5-0.5b")) == Price(0.01, 0.02, 0.01, 0.02)


def test_an_unpriced_target_costs_none_and_is_listed_for_a_warning() -> None:
    table = pricing()
    mystery = Target("oa", "my-finetune")
    usage = TokenUsage(input_tokens=1000, output_tokens=100)
    assert table.price(mystery) is None
    assert table.cost_usd(mystery, usage) is None
    assert table.worst_case_usd(mystery, 1000, 100) == 0.0
    targets = [mystery, Target("oa", "gpt-4o"), Target("an", "claude-x"), mystery]
    assert table.unpriced(targets) == ["an/claude-x", "oa/my-finetune"]


def test_cached_input_is_billed_once_at_the_cached_rate() -> None:
    # gpt-4o: 2.50 in, 1.25 cached, 10.00 out. 600 * 2.5 + 400 * 1.25 + 500 * 10 = 7000 µUSD.
    usage = TokenUsage(input_tokens=1000, output_tokens=500, cached_input_tokens=400)
    assert pricing().cost_usd(Target("oa", "gpt-4o"), usage) == 0.007


def test_reasoning_tokens_are_output_tokens_billed_once() -> None:
    # o3: 2.00 in, 0.50 cached, 8.00 out (reasoning too):
    # 2000 * 2 + 8000 * 0.5 + 500 * 8 + 2500 * 8 = 32000 µUSD.
    usage = TokenUsage(10_000, 3_000, cached_input_tokens=8_000, reasoning_tokens=2_500)
    assert pricing().cost_usd(Target("oa", "o3-2025-04-16"), usage) == 0.032


def test_every_kind_of_token_at_its_configured_rate() -> None:
    table = pricing({"oa/r1": conf(1, 4, cached=0.25, reasoning=10)})
    # 1e6 * 1 + 1e6 * 0.25 + 40 * 4 + 60 * 10 = 1_250_760 µUSD.
    usage = TokenUsage(2_000_000, 100, cached_input_tokens=1_000_000, reasoning_tokens=60)
    assert table.cost_usd(Target("oa", "r1"), usage) == 1.25076


def test_configured_defaults_bill_cached_as_input_and_reasoning_as_output() -> None:
    table = pricing({"m": conf(3, 15)})
    usage = TokenUsage(1000, 100, cached_input_tokens=1000, reasoning_tokens=100)
    assert table.cost_usd(Target("oa", "m"), usage) == 0.0045  # 3000 + 1500 µUSD


def test_inconsistent_counts_never_bill_more_than_there_were() -> None:
    price = Price(2, 8, 1, 8)
    assert price.cost_usd(TokenUsage(100, 10, cached_input_tokens=500)) == 0.00018
    assert price.cost_usd(TokenUsage(100, 10, reasoning_tokens=50)) == 0.00028


def test_costs_round_to_a_billionth_of_a_dollar() -> None:
    assert Price(0.0001, 0, 0, 0).cost_usd(TokenUsage(input_tokens=1)) == 0.0
    assert pricing().cost_usd(Target("oa", "gpt-5-nano"), TokenUsage(input_tokens=3)) == 1.5e-7


def test_worst_case_assumes_no_cache_and_the_dearest_output_rate() -> None:
    table = pricing({"oa/r1": conf(1, 4, cached=0.25, reasoning=10)})
    assert table.worst_case_usd(Target("oa", "gpt-4o"), 1000, 500) == 0.0075
    assert table.worst_case_usd(Target("oa", "r1"), 1000, 100) == 0.002
    assert table.worst_case_usd(Target("llama", "any"), 10**6, 10**6) == 0.0


def test_anthropic_cache_reads_are_not_counted_twice() -> None:
    usage = usage_from_anthropic(
        {
            "input_tokens": 100,
            "cache_read_input_tokens": 2000,
            "cache_creation_input_tokens": 500,
            "output_tokens": 300,
        }
    )
    assert usage is not None
    # claude-sonnet-4-5: 3.00 in, 0.30 cache hits, 15.00 out. Uncached input is the 100 fresh
    # plus the 500 written: 600 * 3 + 2000 * 0.3 + 300 * 15 = 6900 µUSD.
    cost = pricing().cost_usd(Target("an", "claude-sonnet-4-5-20250929"), usage)
    assert cost == 0.0069


def test_built_from_the_config_file_shape() -> None:
    config = StewardConfig.model_validate(
        {
            "providers": {"oa": {"type": "openai"}, "here": {"type": "local"}},
            "pricing": {"oa/gpt-4o": {"input_per_mtok": 1, "output_per_mtok": 2}},
        }
    )
    table = Pricing.from_config(config)
    assert table.price(Target("oa", "gpt-4o")) == Price(1, 2, 1, 2)
    assert table.price(Target("here", "tiny")) is FREE


def test_a_price_is_looked_up_once_per_target() -> None:
    table = pricing()
    first = table.price(Target("oa", "gpt-4o-mini-2024-07-18"))
    again = table.price(Target("oa", "gpt-4o-mini-2024-07-18", weight=3.0))
    assert first is again
