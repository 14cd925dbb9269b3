-- updated_at is UTC "now" on every change that does not set it itself: the
-- UTC form of ON UPDATE CURRENT_TIMESTAMP, which follows the session's
-- time_zone (sql/V014__utc_defaults.sql).
DROP TRIGGER IF EXISTS trg_conversations_before_update;

DELIMITER $$

CREATE TRIGGER trg_conversations_before_update
BEFORE UPDATE ON conversations
FOR EACH ROW
BEGIN
    DECLARE v_session_error VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    -- Hostile sessions (docs/security.md): a chosen or changed conversation_id, warnings
    -- before the rules ran (weak sql_mode, IGNORE) or a weakening switch is
    -- refused, naming it (inline: see trg_ticket_logs_before_insert).
    IF
        NEW.conversation_id <> OLD.conversation_id
        OR @@warning_count > 0
        OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        SET v_session_error = LEFT(CONCAT(
            'ticketdb: ', 'conversations', ': ',
            CASE
                WHEN IF(NEW.conversation_id <> OLD.conversation_id, NEW.conversation_id, 0) <> 0
                    THEN
                        CONCAT(
                            'conversation_id is chosen by the server, not the client (got ',
                            IF(NEW.conversation_id <> OLD.conversation_id, NEW.conversation_id, 0),
                            ')'
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
    IF NEW.updated_at <=> OLD.updated_at THEN
        SET NEW.updated_at = CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00');
    END IF;
END$$

DELIMITER ;
