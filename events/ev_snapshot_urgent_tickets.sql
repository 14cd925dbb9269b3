-- Daily at 05:00 UTC: the morning list of urgent tickets (sp_snapshot_urgent_tickets).
-- Does nothing on a read-only server (a replica), so a promoted replica takes
-- over without double runs. Times are UTC: the deployer creates it with
-- time_zone = '+00:00', which the event keeps.
DROP EVENT IF EXISTS ev_snapshot_urgent_tickets;

DELIMITER $$

CREATE EVENT ev_snapshot_urgent_tickets
ON SCHEDULE EVERY 1 DAY
STARTS '2026-01-01 05:00:00'
ON COMPLETION PRESERVE
ENABLE
COMMENT 'Daily at 05:00 UTC: the morning list of urgent tickets (sp_snapshot_urgent_tickets).'
DO
BEGIN
    IF @@global.read_only = 0 THEN
        CALL sp_snapshot_urgent_tickets(CURRENT_DATE);
    END IF;
END$$

DELIMITER ;
