-- Customers on update: the email is trimmed, the phone is stored normalised (spaces, dots, dashes
-- and parentheses removed; a leading + kept), and a changed email must be unique in that form;
-- email_conflict is kept by this trigger, never set by a client.
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_customers_before_update;

DELIMITER $$

CREATE TRIGGER trg_customers_before_update
BEFORE UPDATE ON customers
FOR EACH ROW
BEGIN
    DECLARE v_session_error VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    -- Hostile sessions (docs/security.md): a chosen or changed customer_id, warnings
    -- before the rules ran (weak sql_mode, IGNORE) or a weakening switch is
    -- refused, naming it (inline: see trg_ticket_logs_before_insert).
    IF
        NEW.customer_id <> OLD.customer_id OR @@warning_count > 0 OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        SET v_session_error = LEFT(CONCAT(
            'ticketdb: ', 'customers', ': ',
            CASE
                WHEN IF(NEW.customer_id <> OLD.customer_id, NEW.customer_id, 0) <> 0
                    THEN
                        CONCAT(
                            'customer_id is chosen by the server, not the client (got ',
                            IF(NEW.customer_id <> OLD.customer_id, NEW.customer_id, 0), ')'
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
    SET NEW.email = TRIM(NEW.email);
    IF NEW.phone IS NOT NULL THEN
        SET NEW.phone = REGEXP_REPLACE(TRIM(NEW.phone), '[ ().-]', '');
    END IF;
    IF NOT (NEW.email <=> OLD.email) THEN
        SET NEW.email_conflict = 0;
    ELSE
        SET NEW.email_conflict = OLD.email_conflict;
    END IF;
END$$

DELIMITER ;
