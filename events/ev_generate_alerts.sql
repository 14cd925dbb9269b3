-- Every minute: writes due-soon (60 min) and overdue alerts (sp_generate_alerts).
-- Does nothing on a read-only server (a replica), so a promoted replica takes
-- over without double runs. A run that finds the previous one still going
-- (its named lock held) skips its turn, so runs never overlap. Times are
-- UTC: the deployer creates it with time_zone = '+00:00', which the event
-- keeps.
DROP EVENT IF EXISTS ev_generate_alerts;

DELIMITER $$

CREATE EVENT ev_generate_alerts
ON SCHEDULE EVERY 1 MINUTE
STARTS '2026-01-01 00:00:00'
ON COMPLETION PRESERVE
ENABLE
COMMENT 'Every minute: writes due-soon (60 min) and overdue alerts (sp_generate_alerts).'
DO
BEGIN
    -- One lock per database and job; at most 64 characters, whatever the name.
    DECLARE v_lock VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT CONCAT(
        'ticketdb.', LEFT(DATABASE(), 24), '.', LEFT(MD5(DATABASE()), 8), '.alerts'
    );
    IF @@global.read_only = 0 THEN
        IF GET_LOCK(v_lock, 0) = 1 THEN
            CALL sp_generate_alerts(60);
            DO RELEASE_LOCK(v_lock);
        END IF;
    END IF;
END$$

DELIMITER ;
