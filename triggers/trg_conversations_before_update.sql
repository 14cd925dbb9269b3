-- updated_at is UTC "now" on every change that does not set it itself: the
-- UTC form of ON UPDATE CURRENT_TIMESTAMP, which follows the session's
-- time_zone (sql/V014__utc_defaults.sql).
DROP TRIGGER IF EXISTS trg_conversations_before_update;

DELIMITER $$

CREATE TRIGGER trg_conversations_before_update
BEFORE UPDATE ON conversations
FOR EACH ROW
BEGIN
    -- Hostile sessions (docs/security.md): a chosen or changed conversation_id, warnings
    -- before the rules ran (weak sql_mode, IGNORE) or a weakening switch is
    -- refused by sp_refuse_unsafe_session, which names it.
    IF
        NEW.conversation_id <> OLD.conversation_id
        OR @@warning_count > 0
        OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        CALL sp_refuse_unsafe_session(
            'conversations',
            'conversation_id',
            IF(NEW.conversation_id <> OLD.conversation_id, NEW.conversation_id, 0),
            @@warning_count, FALSE
        );
    END IF;
    IF NEW.updated_at <=> OLD.updated_at THEN
        SET NEW.updated_at = CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00');
    END IF;
END$$

DELIMITER ;
