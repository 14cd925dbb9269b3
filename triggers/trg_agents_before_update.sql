-- An agent row changed (supervisors write agents).
--
-- Hostile sessions (docs/security.md): the key never changes.
-- A write under a session setting that weakens a rule is refused, naming
-- the setting; the common path pays one combined test (inline, as in
-- trg_ticket_logs_before_insert, which says why).
DROP TRIGGER IF EXISTS trg_agents_before_update;

DELIMITER $$

CREATE TRIGGER trg_agents_before_update
BEFORE UPDATE ON agents
FOR EACH ROW
BEGIN
    DECLARE v_session_error VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    IF
        NEW.agent_id <> OLD.agent_id OR @@warning_count > 0 OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        SET v_session_error = LEFT(CONCAT(
            'ticketdb: ', 'agents', ': ',
            CASE
                WHEN IF(NEW.agent_id <> OLD.agent_id, NEW.agent_id, 0) <> 0
                    THEN
                        CONCAT(
                            'agent_id is chosen by the server, not the client (got ',
                            IF(NEW.agent_id <> OLD.agent_id, NEW.agent_id, 0), ')'
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
END$$

DELIMITER ;
