-- Every 10 minutes: applies the escalation rules (sp_escalate_priorities).
-- Does nothing on a read-only server (a replica), so a promoted replica takes
-- over without double runs. A run that finds the previous one still going
-- (its named lock held) skips its turn, so runs never overlap. Times are
-- UTC: the deployer creates it with time_zone = '+00:00', which the event
-- keeps.
DROP EVENT IF EXISTS ev_escalate_priorities;

DELIMITER $$

CREATE EVENT ev_escalate_priorities
ON SCHEDULE EVERY 10 MINUTE
STARTS '2026-01-01 00:00:00'
ON COMPLETION PRESERVE
ENABLE
COMMENT 'Every 10 minutes: applies the escalation rules (sp_escalate_priorities).'
DO
BEGIN
    -- One lock per database and job; at most 64 characters, whatever the name.
    DECLARE v_lock VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT CONCAT(
        'ticketdb.', LEFT(DATABASE(), 24), '.', LEFT(MD5(DATABASE()), 8), '.escalate'
    );
    IF @@global.read_only = 0 THEN
        IF GET_LOCK(v_lock, 0) = 1 THEN
            CALL sp_escalate_priorities();
            DO RELEASE_LOCK(v_lock);
        END IF;
    END IF;
END$$

DELIMITER ;
