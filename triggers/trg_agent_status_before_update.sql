-- An agent's presence row changed.
--
-- Hostile sessions (docs/security.md): no rule may be weakened by the session.
-- A write under a session setting that weakens a rule is refused by sp_refuse_unsafe_session,
-- which names the setting; the common path pays one combined test.
DROP TRIGGER IF EXISTS trg_agent_status_before_update;

DELIMITER $$

CREATE TRIGGER trg_agent_status_before_update
BEFORE UPDATE ON agent_status
FOR EACH ROW
BEGIN
    IF
        @@warning_count > 0 OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        CALL sp_refuse_unsafe_session(
            'agent_status', NULL, 0, @@warning_count, FALSE
        );
    END IF;
END$$

DELIMITER ;
