-- An alert changed (supervisors set sent_at).
--
-- Hostile sessions (docs/security.md): the key never changes.
-- A write under a session setting that weakens a rule is refused by sp_refuse_unsafe_session,
-- which names the setting; the common path pays one combined test.
DROP TRIGGER IF EXISTS trg_ticket_alerts_before_update;

DELIMITER $$

CREATE TRIGGER trg_ticket_alerts_before_update
BEFORE UPDATE ON ticket_alerts
FOR EACH ROW
BEGIN
    IF
        NEW.alert_id <> OLD.alert_id OR @@warning_count > 0 OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        CALL sp_refuse_unsafe_session(
            'ticket_alerts',
            'alert_id',
            IF(NEW.alert_id <> OLD.alert_id, NEW.alert_id, 0),
            @@warning_count,
            FALSE
        );
    END IF;
END$$

DELIMITER ;
