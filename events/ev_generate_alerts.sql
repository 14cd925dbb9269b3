-- Every minute: writes due-soon (60 min) and overdue alerts (sp_generate_alerts).
-- The body is one CALL of sp_run_job, which does nothing on a read-only
-- server (a replica, so a promoted replica takes over without double runs),
-- takes the job's lease (runs never overlap; on a cluster each period runs
-- on one node), records the run in ticketdb_job_runs and runs the job.
-- Times are UTC: the deployer creates it with time_zone = '+00:00', which
-- the event keeps.
DROP EVENT IF EXISTS ev_generate_alerts;

CREATE EVENT ev_generate_alerts
ON SCHEDULE EVERY 1 MINUTE
STARTS '2026-01-01 00:00:00'
ON COMPLETION PRESERVE
ENABLE
COMMENT 'Every minute: writes due-soon (60 min) and overdue alerts (sp_generate_alerts).'
DO CALL sp_run_job('generate_alerts');
