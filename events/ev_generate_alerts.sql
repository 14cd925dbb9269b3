-- Every minute: writes due-soon (60 min) and overdue alerts (sp_generate_alerts).
-- Does nothing on a read-only server (a replica), so a promoted replica takes
-- over without double runs. Times are UTC: the deployer creates it with
-- time_zone = '+00:00', which the event keeps.
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
    IF @@global.read_only = 0 THEN
        CALL sp_generate_alerts(60);
    END IF;
END$$

DELIMITER ;
