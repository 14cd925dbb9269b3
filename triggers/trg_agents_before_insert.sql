-- A new agent row (supervisors write agents).
--
-- Hostile sessions (docs/security.md): the key is the server's to choose.
-- A write under a session setting that weakens a rule is refused by sp_refuse_unsafe_session,
-- which names the setting; the common path pays one combined test.
DROP TRIGGER IF EXISTS trg_agents_before_insert;

DELIMITER $$

CREATE TRIGGER trg_agents_before_insert
BEFORE INSERT ON agents
FOR EACH ROW
BEGIN
    IF
        NEW.agent_id <> 0 OR @@warning_count > 0 OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        CALL sp_refuse_unsafe_session(
            'agents', 'agent_id', NEW.agent_id, @@warning_count, FALSE
        );
    END IF;
    -- A defaulted created_at is the session's UTC_TIMESTAMP(), which SET timestamp
    -- moves: it becomes the real time (SYSDATE() in UTC).
    IF NEW.created_at = UTC_TIMESTAMP() THEN
        SET NEW.created_at = CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00');
    END IF;
    IF
        NEW.created_at > CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00')
        + INTERVAL 5 MINUTE THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: agents: created_at is in the future (timestamps are UTC)';
    END IF;
END$$

DELIMITER ;
