"""`[connectors.*]`: off by default, every problem named with its key."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, parse_config


def test_connectors_are_off_by_default() -> None:
    config = parse_config({"program": {"preset": "marketplace"}})
    assert not config.connectors.any_enabled
    assert config.connectors.coupon_platforms == frozenset()
    assert config.connectors.woocommerce.member_id == "wc-{customer_id}"
    assert config.connectors.shopify.member_id == "shopify-{customer_id}"


def test_every_problem_is_listed_with_its_key() -> None:
    raw = {
        "program": {"preset": "marketplace"},
        "connectors": {
            "woocommerce": {"enabled": True, "store_url": "shop.example", "member_id": "wc",
                            "secret": "inline"},
            "shopify": {"enabled": True, "shop_domain": "", "delivered_status": "shipped"},
        },
    }  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        parse_config(raw)
    problems = "\n".join(raised.value.problems)
    for expected in (
        "connectors.woocommerce.store_url: must be the store's address",
        "connectors.woocommerce.member_id: must contain {customer_id} once",
        "connectors.woocommerce.secret: unknown key",
        "connectors.shopify.shop_domain: must be the shop's domain",
        "connectors.shopify.delivered_status: must be one of fulfilled, partial",
    ):
        assert expected in problems, problems


def test_a_member_id_template_is_used() -> None:
    raw = {
        "program": {"preset": "marketplace"},
        "connectors": {"woocommerce": {"enabled": True, "store_url": "https://s.example",
                                       "member_id": "shop-{customer_id}"}},
    }  # fmt: skip
    config = parse_config(raw)
    assert config.connectors.coupon_platforms == frozenset({"woocommerce"})
    assert config.connectors.woocommerce.member_id == "shop-{customer_id}"


def test_two_shops_cannot_share_a_member_id_template() -> None:
    raw = {
        "program": {"preset": "marketplace"},
        "connectors": {
            "woocommerce": {"enabled": True, "store_url": "https://s.example",
                            "member_id": "c-{customer_id}"},
            "shopify": {"enabled": True, "shop_domain": "s.myshopify.com",
                        "member_id": "c-{customer_id}"},
        },
    }  # fmt: skip
    with pytest.raises(ConfigError) as raised:
        parse_config(raw)
    assert raised.value.problems == [
        "connectors.shopify.member_id: must differ from [connectors.woocommerce] member_id"
    ]
