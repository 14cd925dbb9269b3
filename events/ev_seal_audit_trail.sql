-- Daily at 04:00 UTC: seals the audit trail (sp_seal_audit_trail), so that
-- sp_verify_audit_trail can report any ticket, row or archive removed or
-- changed since.
-- The body is one CALL of sp_run_job, which does nothing on a read-only
-- server (a replica, so a promoted replica takes over without double runs),
-- takes the job's lease (runs never overlap; on a cluster each period runs
-- on one node), records the run in ticketdb_job_runs and runs the job.
-- Times are UTC: the deployer creates it with time_zone = '+00:00', which
-- the event keeps.
DROP EVENT IF EXISTS ev_seal_audit_trail;

CREATE EVENT ev_seal_audit_trail
ON SCHEDULE EVERY 1 DAY
STARTS '2026-01-01 04:00:00'
ON COMPLETION PRESERVE
ENABLE
COMMENT 'Daily at 04:00 UTC: seals the audit trail (sp_seal_audit_trail).'
DO CALL sp_run_job('seal_audit_trail');
