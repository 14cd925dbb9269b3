-- Customers on insert: the email is trimmed, the phone is stored normalised (spaces, dots, dashes
-- and parentheses removed; a leading + kept), and a new customer's email must be unique in that
-- form (the unique key on email_normalized with email_conflict 0 refuses a
-- second one).
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_customers_before_insert;

DELIMITER $$

CREATE TRIGGER trg_customers_before_insert
BEFORE INSERT ON customers
FOR EACH ROW
BEGIN
    DECLARE v_session_error VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    -- Hostile sessions (docs/security.md): a chosen or changed customer_id, warnings
    -- before the rules ran (weak sql_mode, IGNORE) or a weakening switch is
    -- refused, naming it (inline: see trg_ticket_logs_before_insert).
    IF
        NEW.customer_id <> 0 OR @@warning_count > 0 OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        SET v_session_error = LEFT(CONCAT(
            'ticketdb: ', 'customers', ': ',
            CASE
                WHEN NEW.customer_id <> 0
                    THEN
                        CONCAT(
                            'customer_id is chosen by the server, not the client (got ',
                            NEW.customer_id, ')'
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
    -- A defaulted created_at is the session's UTC_TIMESTAMP(), which SET timestamp
    -- moves: it becomes the real time (SYSDATE() in UTC).
    IF NEW.created_at = UTC_TIMESTAMP() THEN
        SET NEW.created_at = CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00');
    END IF;
    SET NEW.email = TRIM(NEW.email);
    IF NEW.phone IS NOT NULL THEN
        SET NEW.phone = REGEXP_REPLACE(TRIM(NEW.phone), '[ ().-]', '');
    END IF;
    SET NEW.email_conflict = 0;
END$$

DELIMITER ;
