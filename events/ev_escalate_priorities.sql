-- Every 10 minutes: applies the escalation rules (sp_escalate_priorities).
-- Does nothing on a read-only server (a replica), so a promoted replica takes
-- over without double runs. Times are UTC: the deployer creates it with
-- time_zone = '+00:00', which the event keeps.
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
    IF @@global.read_only = 0 THEN
        CALL sp_escalate_priorities();
    END IF;
END$$

DELIMITER ;
