DROP PROCEDURE IF EXISTS sp_set_customer_tier;

DELIMITER $$

CREATE PROCEDURE sp_set_customer_tier (
    IN in_customer_id INT UNSIGNED,
    IN in_tier VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
    IN in_reason VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
)
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
A manual tier override that sp_refresh_customer_tiers respects: in_tier
vip or standard sets the tier and tier_source = manual; in_tier NULL ends
the override (tier_source = spend: the next refresh decides, the tier is
kept until then). The change is recorded in customer_tier_changes with the
reason and the caller''s login. Refused, with nothing changed: an unknown
customer, another tier, a missing reason. Works inside the caller''s
transaction (one UPDATE, no COMMIT). Returns one row: customer_id, tier,
tier_source.

Parameters
-----------
in_customer_id (INT UNSIGNED): the customer.
in_tier (VARCHAR): vip, standard, or NULL to end the override.
in_reason (VARCHAR): why, kept in the history.

Example
-----------
CALL sp_set_customer_tier(42, ''vip'', ''key account, contract 2026-114'');
'
BEGIN
    DECLARE v_message VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_set_customer_tier');

    IF in_tier IS NOT NULL AND in_tier NOT IN ('vip', 'standard') THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_set_customer_tier: the tier must be vip, standard or NULL';
    END IF;
    IF in_reason IS NULL OR TRIM(in_reason) = '' THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ticketdb: sp_set_customer_tier: a reason is required';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM customers
        WHERE customer_id = in_customer_id
    ) THEN
        SET v_message = CONCAT(
            'ticketdb: customer ', COALESCE(in_customer_id, 'NULL'),
            ': no such customer'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;

    UPDATE customers
    SET
        tier = COALESCE(in_tier, tier),
        tier_source = IF(in_tier IS NULL, 'spend', 'manual'),
        tier_reason = CONCAT(
            IF(in_tier IS NULL, 'override ended: ', 'manual override: '), TRIM(in_reason)
        )
    WHERE customer_id = in_customer_id;

    SELECT
        customer_id,
        tier,
        tier_source
    FROM customers
    WHERE customer_id = in_customer_id;
END$$

DELIMITER ;
