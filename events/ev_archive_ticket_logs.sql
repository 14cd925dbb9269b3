-- Daily at 02:15 UTC, from the setting archive_day_of_month on: moves the log
-- rows older than the live months (setting archive_live_months, the current
-- month included) to their monthly archives (sp_archive_ticket_logs). Once a
-- month's rows have moved, the next days find nothing older and do nothing,
-- so the archive runs monthly; a day missed (server down) is caught up the
-- next day. Both settings live in ticketdb_settings and are read on every
-- run (by sp_run_job).
-- The body is one CALL of sp_run_job, which does nothing on a read-only
-- server (a replica, so a promoted replica takes over without double runs),
-- takes the job's lease (runs never overlap; on a cluster each period runs
-- on one node), records the run in ticketdb_job_runs and runs the job.
-- Times are UTC: the deployer creates it with time_zone = '+00:00', which
-- the event keeps.
DROP EVENT IF EXISTS ev_archive_ticket_logs;

CREATE EVENT ev_archive_ticket_logs
ON SCHEDULE EVERY 1 DAY
STARTS '2026-01-01 02:15:00'
ON COMPLETION PRESERVE
ENABLE
COMMENT 'Daily at 02:15 UTC: archives months of ticket_logs past the live ones.'
DO CALL sp_run_job('archive_ticket_logs');
