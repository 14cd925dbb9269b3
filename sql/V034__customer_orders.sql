-- What customers buy: the spend that makes a customer VIP
-- (sp_refresh_customer_tiers). The application's account records orders;
-- reporting reads them. amount is in the order's currency; a refund is an
-- order with a negative amount. The spend rule adds amounts as they are:
-- an installation that takes several currencies records converted amounts
-- (see docs/vip-cache.md).
CREATE TABLE customer_orders (
    order_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    customer_id INT UNSIGNED NOT NULL,
    ordered_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP()),
    amount DECIMAL(14, 2) NOT NULL,
    currency CHAR(3) NOT NULL DEFAULT 'EUR',
    PRIMARY KEY (order_id),
    -- The trailing-12-month spend of every customer is read from this index
    -- alone, in customer order (no temporary table, no row reads).
    KEY ix_customer_orders_spend (customer_id, ordered_at, amount),
    KEY ix_customer_orders_time (ordered_at),
    CONSTRAINT fk_customer_orders_customer FOREIGN KEY (customer_id)
    REFERENCES customers (customer_id),
    -- an ISO 4217 code, upper case (compared as bytes: the collation ignores case)
    CONSTRAINT chk_customer_orders_currency CHECK (
        currency REGEXP '^[A-Za-z]{3}$'
        AND CAST(currency AS BINARY) = CAST(UPPER(currency) AS BINARY)
    ),
    CONSTRAINT chk_customer_orders_ordered CHECK (ordered_at >= '2000-01-01')
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

INSERT INTO ticketdb_settings (setting_name, setting_value, description) VALUES
(
    'vip_annual_spend', 100000,
    'trailing-12-month spend at which sp_refresh_customer_tiers makes a customer vip'
);
