-- Tiers from spend: tier_source says who decides a customer's tier.
-- 'spend': sp_refresh_customer_tiers sets it from the trailing 12 months'
-- orders; 'manual': an override (sp_set_customer_tier) that the refresh
-- leaves alone. Tiers set before this migration were set by hand, so
-- existing VIPs keep their tier as a manual override.
-- tier_reason is the why of the last change, copied into the history.
ALTER TABLE customers
    ADD COLUMN tier_source ENUM('spend', 'manual') NOT NULL DEFAULT 'spend' AFTER tier,
    ADD COLUMN tier_reason VARCHAR(255) NULL AFTER tier_source,
    ADD KEY ix_customers_tier (tier, tier_source);

UPDATE customers
SET
    tier_source = 'manual',
    tier_reason = 'set by hand before tiers came from spend'
WHERE tier = 'vip';

-- Every change of a customer's tier or tier_source: who (the login) or what
-- (the refresh names itself in reason), when, old and new, why. Written by
-- the trigger trg_customers_after_update only; no role writes it.
CREATE TABLE customer_tier_changes (
    change_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    customer_id INT UNSIGNED NOT NULL,
    old_tier ENUM('standard', 'vip') NOT NULL,
    new_tier ENUM('standard', 'vip') NOT NULL,
    old_source ENUM('spend', 'manual') NOT NULL,
    new_source ENUM('spend', 'manual') NOT NULL,
    reason VARCHAR(255) NOT NULL,
    changed_by VARCHAR(300) NOT NULL,
    changed_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP()),
    PRIMARY KEY (change_id),
    KEY ix_customer_tier_changes_customer (customer_id, changed_at),
    KEY ix_customer_tier_changes_time (changed_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
