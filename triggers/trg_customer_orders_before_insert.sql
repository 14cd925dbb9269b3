-- A new order (the application records them; tiers are computed from them).
--
-- Hostile sessions (docs/security.md): the key is the server's to choose.
-- A write under a session setting that weakens a rule is refused, naming
-- the setting; the common path pays one combined test (inline, as in
-- trg_ticket_logs_before_insert, which says why).
DROP TRIGGER IF EXISTS trg_customer_orders_before_insert;

DELIMITER $$

CREATE TRIGGER trg_customer_orders_before_insert
BEFORE INSERT ON customer_orders
FOR EACH ROW
BEGIN
    DECLARE v_session_error VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    IF
        NEW.order_id <> 0 OR @@warning_count > 0 OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        SET v_session_error = LEFT(CONCAT(
            'ticketdb: ', 'customer_orders', ': ',
            CASE
                WHEN NEW.order_id <> 0
                    THEN
                        CONCAT(
                            'order_id is chosen by the server, not the client (got ',
                            NEW.order_id, ')'
                        )
                WHEN @@warning_count > 0
                    THEN
                        CONCAT(
                            'refused: the statement raised ', @@warning_count,
                            ' warning(s) before the rules ran (sql_mode not strict, or IGNORE)'
                        )
                WHEN @@session.max_error_count = 0 THEN 'refused under max_error_count = 0'
                WHEN @@session.foreign_key_checks = 0
                    THEN 'refused under foreign_key_checks = 0'
                WHEN @@session.unique_checks = 0 THEN 'refused under unique_checks = 0'
                ELSE 'refused under check_constraint_checks = 0'
            END
        ), 128);
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_session_error;
    END IF;
    -- A defaulted ordered_at is the session's UTC_TIMESTAMP(), which SET timestamp
    -- moves: it becomes the real time (SYSDATE() in UTC).
    IF NEW.ordered_at = UTC_TIMESTAMP() THEN
        SET NEW.ordered_at = CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00');
    END IF;
    IF
        NEW.ordered_at > CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00')
        + INTERVAL 5 MINUTE THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: customer_orders: ordered_at is in the future (timestamps are UTC)';
    END IF;
END$$

DELIMITER ;
