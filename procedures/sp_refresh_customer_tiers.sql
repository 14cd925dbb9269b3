DROP PROCEDURE IF EXISTS sp_refresh_customer_tiers;

DELIMITER $$

CREATE PROCEDURE sp_refresh_customer_tiers ()
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Sets customers.tier from spend: a customer whose trailing 12 months of
customer_orders (ordered_at in [now - 12 months, now], UTC) add up to at
least the setting vip_annual_spend becomes vip, one below it becomes
standard. Only customers with tier_source = spend are touched: a manual
override (sp_set_customer_tier) is respected. Set-based: one UPDATE for
the upgrades (the spend of every customer read from the index on
customer_id, ordered_at, amount in one pass, joined) and one for the downgrades (each current vip summed by
that index); rows whose tier is already right are not written. Every change
is recorded in customer_tier_changes with the spend in its reason (by the
trigger trg_customers_after_update). Runs at READ COMMITTED in its own
transaction, so it takes no locks on the orders it reads; commits: call it
outside a transaction. Returns one row: upgraded, downgraded, threshold.

Parameters
-----------
None.

Example
-----------
CALL sp_refresh_customer_tiers();
'
BEGIN
    DECLARE v_now DATETIME DEFAULT UTC_TIMESTAMP();
    DECLARE v_from DATETIME;
    DECLARE v_threshold INT;
    DECLARE v_upgraded INT DEFAULT 0;
    DECLARE v_downgraded INT DEFAULT 0;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_refresh_customer_tiers');

    SET v_from = v_now - INTERVAL 12 MONTH;

    BEGIN
        DECLARE EXIT HANDLER FOR SQLEXCEPTION
        BEGIN
            ROLLBACK;
            RESIGNAL;
        END;

        -- before anything reads a table: under autocommit = 0 a read
        -- would open the transaction with the caller's isolation level
        SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
        START TRANSACTION;
        SET v_threshold = (
            SELECT s.setting_value FROM ticketdb_settings AS s
            WHERE s.setting_name = 'vip_annual_spend'
        );
        IF v_threshold IS NULL OR v_threshold < 1 THEN
            SIGNAL SQLSTATE '45000'
                SET MESSAGE_TEXT
                = 'ticketdb: sp_refresh_customer_tiers: setting vip_annual_spend is below 1';
        END IF;
        -- The spend of every customer in one pass over the index (customer_id,
        -- ordered_at, amount), joined as a derived table: an IN (subquery) in a
        -- single-table UPDATE is run again for every customer on MariaDB.
        UPDATE customers AS c, (
            SELECT
                o.customer_id,
                SUM(o.amount) AS spend
            FROM customer_orders AS o
            WHERE o.ordered_at >= v_from AND o.ordered_at <= v_now
            GROUP BY o.customer_id
            HAVING SUM(o.amount) >= v_threshold
        ) AS s
        SET
            c.tier = 'vip',
            c.tier_reason = CONCAT(
                'sp_refresh_customer_tiers: 12-month spend ', s.spend,
                ' >= vip_annual_spend ', v_threshold
            )
        WHERE
            c.customer_id = s.customer_id
            AND c.tier = 'standard' AND c.tier_source = 'spend';
        SET v_upgraded = ROW_COUNT();

        UPDATE customers AS c
        SET
            c.tier = 'standard',
            c.tier_reason = CONCAT(
                'sp_refresh_customer_tiers: 12-month spend ',
                (
                    SELECT COALESCE(SUM(o.amount), 0) FROM customer_orders AS o
                    WHERE
                        o.customer_id = c.customer_id
                        AND o.ordered_at >= v_from AND o.ordered_at <= v_now
                ),
                ' < vip_annual_spend ', v_threshold
            )
        WHERE
            c.tier = 'vip' AND c.tier_source = 'spend'
            AND (
                SELECT COALESCE(SUM(o.amount), 0) FROM customer_orders AS o
                WHERE
                    o.customer_id = c.customer_id
                    AND o.ordered_at >= v_from AND o.ordered_at <= v_now
            ) < v_threshold;
        SET v_downgraded = ROW_COUNT();
        COMMIT;
    END;

    SELECT
        v_upgraded AS upgraded,
        v_downgraded AS downgraded,
        v_threshold AS threshold;
END$$

DELIMITER ;
