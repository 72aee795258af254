"""The `[connectors.*]` sections: which shop platforms send webhooks and take coupons."""

from __future__ import annotations

from dataclasses import dataclass, field

from loyalty.loader import TableReader

MEMBER_TEMPLATE_FIELD = "{customer_id}"


@dataclass(frozen=True)
class WooCommerceConfig:
    """A WooCommerce store: its webhooks' secret and its REST API keys (all from env vars)."""

    enabled: bool = False
    secret_env: str = "WC_WEBHOOK_SECRET"  # noqa: S105 (the variable's name)
    store_url: str = ""
    consumer_key_env: str = "WC_CONSUMER_KEY"
    consumer_secret_env: str = "WC_CONSUMER_SECRET"  # noqa: S105 (the variable's name)
    member_id: str = "wc-{customer_id}"
    delivered_status: str = "completed"
    # WooCommerce does not say whether a customer's e-mail is verified; an account made at
    # checkout got its password link by e-mail, so by default an account counts as verified.
    assume_email_verified: bool = True
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class ShopifyConfig:
    """A Shopify store: the app's webhook secret and an Admin API access token (env vars)."""

    enabled: bool = False
    secret_env: str = "SHOPIFY_WEBHOOK_SECRET"  # noqa: S105 (the variable's name)
    shop_domain: str = ""
    access_token_env: str = "SHOPIFY_ACCESS_TOKEN"  # noqa: S105 (the variable's name)
    member_id: str = "shopify-{customer_id}"
    delivered_status: str = "fulfilled"
    api_version: str = "2026-01"
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class ConnectorsConfig:
    """Both connectors (each off by default)."""

    woocommerce: WooCommerceConfig = field(default_factory=WooCommerceConfig)
    shopify: ShopifyConfig = field(default_factory=ShopifyConfig)

    @property
    def any_enabled(self) -> bool:
        """Tell whether at least one connector is on."""
        return self.woocommerce.enabled or self.shopify.enabled

    @property
    def coupon_platforms(self) -> frozenset[str]:
        """Return the platforms that are on, whose customers' coupons are created there."""
        on = {"woocommerce": self.woocommerce.enabled, "shopify": self.shopify.enabled}
        return frozenset(name for name, enabled in on.items() if enabled)


def _template(r: TableReader, default: str) -> str:
    value = r.text("member_id", default)
    if value.count(MEMBER_TEMPLATE_FIELD) != 1:
        r.fail(f"must contain {MEMBER_TEMPLATE_FIELD} once, e.g. {default!r}", "member_id")
        return default
    return value


def _timeout(r: TableReader, default: float) -> float:
    seconds = r.integer("timeout_seconds", int(default), low=1, high=120)
    return float(seconds)


def read_connectors(r: TableReader) -> ConnectorsConfig:
    """Read `[connectors]` with its `woocommerce` and `shopify` tables."""
    wc_reader = r.table_reader("woocommerce")
    wd = WooCommerceConfig
    enabled = wc_reader.boolean("enabled", wd.enabled)
    store_url = wc_reader.text("store_url", wd.store_url).rstrip("/")
    if enabled and not store_url.startswith(("https://", "http://")):
        wc_reader.fail("must be the store's address, e.g. https://shop.example", "store_url")
    woocommerce = WooCommerceConfig(
        enabled=enabled,
        secret_env=wc_reader.text("secret_env", wd.secret_env),
        store_url=store_url,
        consumer_key_env=wc_reader.text("consumer_key_env", wd.consumer_key_env),
        consumer_secret_env=wc_reader.text("consumer_secret_env", wd.consumer_secret_env),
        member_id=_template(wc_reader, wd.member_id),
        delivered_status=wc_reader.text("delivered_status", wd.delivered_status),
        assume_email_verified=wc_reader.boolean("assume_email_verified", wd.assume_email_verified),
        timeout_seconds=_timeout(wc_reader, wd.timeout_seconds),
    )
    wc_reader.done()
    sh_reader = r.table_reader("shopify")
    sd = ShopifyConfig
    enabled = sh_reader.boolean("enabled", sd.enabled)
    domain = sh_reader.text("shop_domain", sd.shop_domain).strip().strip("/")
    if enabled and (not domain or "/" in domain):
        sh_reader.fail("must be the shop's domain, e.g. my-shop.myshopify.com", "shop_domain")
    shopify = ShopifyConfig(
        enabled=enabled,
        secret_env=sh_reader.text("secret_env", sd.secret_env),
        shop_domain=domain,
        access_token_env=sh_reader.text("access_token_env", sd.access_token_env),
        member_id=_template(sh_reader, sd.member_id),
        delivered_status=sh_reader.text(
            "delivered_status", sd.delivered_status, choices=("fulfilled", "partial")
        ),
        api_version=sh_reader.text("api_version", sd.api_version),
        timeout_seconds=_timeout(sh_reader, sd.timeout_seconds),
    )
    sh_reader.done()
    if woocommerce.enabled and shopify.enabled and woocommerce.member_id == shopify.member_id:
        # Customer 26 of one shop is not customer 26 of the other.
        sh_reader.fail("must differ from [connectors.woocommerce] member_id", "member_id")
    return ConnectorsConfig(woocommerce=woocommerce, shopify=shopify)
