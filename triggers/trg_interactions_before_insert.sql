-- A new interaction (agents record them).
--
-- Hostile sessions (docs/security.md): the key is the server's to choose.
-- A write under a session setting that weakens a rule is refused by sp_refuse_unsafe_session,
-- which names the setting; the common path pays one combined test.
DROP TRIGGER IF EXISTS trg_interactions_before_insert;

DELIMITER $$

CREATE TRIGGER trg_interactions_before_insert
BEFORE INSERT ON interactions
FOR EACH ROW
BEGIN
    IF
        NEW.interaction_id <> 0 OR @@warning_count > 0 OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        CALL sp_refuse_unsafe_session(
            'interactions', 'interaction_id', NEW.interaction_id, @@warning_count, FALSE
        );
    END IF;
    -- A defaulted occurred_at is the session's UTC_TIMESTAMP(), which SET timestamp
    -- moves: it becomes the real time (SYSDATE() in UTC).
    IF NEW.occurred_at = UTC_TIMESTAMP() THEN
        SET NEW.occurred_at = CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00');
    END IF;
    IF
        NEW.occurred_at > CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00')
        + INTERVAL 5 MINUTE THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: interactions: occurred_at is in the future (timestamps are UTC)';
    END IF;
END$$

DELIMITER ;
