-- Daily at 05:00 UTC: the morning list of urgent tickets (sp_snapshot_urgent_tickets).
-- The body is one CALL of sp_run_job, which does nothing on a read-only
-- server (a replica, so a promoted replica takes over without double runs),
-- takes the job's lease (runs never overlap; on a cluster each period runs
-- on one node), records the run in ticketdb_job_runs and runs the job.
-- Times are UTC: the deployer creates it with time_zone = '+00:00', which
-- the event keeps.
DROP EVENT IF EXISTS ev_snapshot_urgent_tickets;

CREATE EVENT ev_snapshot_urgent_tickets
ON SCHEDULE EVERY 1 DAY
STARTS '2026-01-01 05:00:00'
ON COMPLETION PRESERVE
ENABLE
COMMENT 'Daily at 05:00 UTC: the morning list of urgent tickets (sp_snapshot_urgent_tickets).'
DO CALL sp_run_job('snapshot_urgent_tickets');
