-- An escalation rule changed.
--
-- Hostile sessions (docs/security.md): the key never changes.
-- A write under a session setting that weakens a rule is refused by sp_refuse_unsafe_session,
-- which names the setting; the common path pays one combined test.
DROP TRIGGER IF EXISTS trg_escalation_rules_before_update;

DELIMITER $$

CREATE TRIGGER trg_escalation_rules_before_update
BEFORE UPDATE ON escalation_rules
FOR EACH ROW
BEGIN
    IF
        NEW.rule_id <> OLD.rule_id OR @@warning_count > 0 OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        CALL sp_refuse_unsafe_session(
            'escalation_rules',
            'rule_id',
            IF(NEW.rule_id <> OLD.rule_id, NEW.rule_id, 0),
            @@warning_count,
            FALSE
        );
    END IF;
END$$

DELIMITER ;
