"""Shop platform connectors: WooCommerce and Shopify webhooks in, coupons out."""
