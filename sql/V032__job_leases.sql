-- Mutual exclusion of the scheduled jobs: one lease row per job, written only
-- by definer code (sp_job_lease_take, sp_job_lease_release; no role has any
-- privilege on this table). A run takes its job's lease with one short
-- committed UPDATE (free, expired, or already its own), so on a Galera
-- cluster the lease is certified cluster-wide before the job runs, and a
-- certification conflict on taking it only means that another node has it.
-- The lease expires at lease_until when its holder dies, so the job goes on
-- elsewhere. slot_start is the start of the schedule period last run: each
-- period runs once, whichever node's event fires first.
CREATE TABLE ticketdb_job_leases (
    job VARCHAR(64) NOT NULL,
    holder VARCHAR(255) NULL,
    lease_until DATETIME(6) NOT NULL DEFAULT '1970-01-01 00:00:00.000000',
    lease_seconds INT UNSIGNED NOT NULL,
    slot_start DATETIME NULL,
    taken_at DATETIME(6) NULL,
    takes BIGINT UNSIGNED NOT NULL DEFAULT 0,
    description VARCHAR(255) NOT NULL,
    PRIMARY KEY (job),
    CONSTRAINT chk_ticketdb_job_leases_seconds CHECK (lease_seconds BETWEEN 10 AND 86400)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

INSERT INTO ticketdb_job_leases (job, lease_seconds, description) VALUES
(
    'escalate_priorities', 900,
    'ev_escalate_priorities: CALL sp_escalate_priorities()'
),
(
    'generate_alerts', 120,
    'ev_generate_alerts: CALL sp_generate_alerts(60)'
),
(
    'snapshot_urgent_tickets', 3600,
    'ev_snapshot_urgent_tickets: CALL sp_snapshot_urgent_tickets(today, UTC)'
),
(
    'apply_retention', 3600,
    'ev_apply_retention: CALL sp_apply_retention()'
),
(
    'archive_ticket_logs', 3600,
    'ev_archive_ticket_logs: CALL sp_archive_ticket_logs(...) when a month is due; '
    'the archive renews its lease while it runs'
),
(
    'seal_audit_trail', 3600,
    'ev_seal_audit_trail: CALL sp_seal_audit_trail()'
);
