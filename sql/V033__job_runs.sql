-- One row per run of a scheduled job (in the spirit of pg_cron's
-- cron.job_run_details), written by sp_run_job: 'running' when it starts,
-- then 'succeeded' or 'failed' (with the server's error code and message);
-- 'interrupted' when its session died before it finished (set by the next
-- run that takes the lease); 'skipped' when the previous run still held the
-- lease. A read-only server writes nothing (a replica shows its primary's
-- runs). Rows older than the setting job_run_retention_days are deleted by
-- sp_run_job as each job runs.
CREATE TABLE ticketdb_job_runs (
    run_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    job VARCHAR(64) NOT NULL,
    started_at DATETIME(6) NOT NULL,
    finished_at DATETIME(6) NULL,
    outcome ENUM('running', 'succeeded', 'failed', 'interrupted', 'skipped') NOT NULL,
    error_code INT NULL,
    error_message VARCHAR(512) NULL,
    rows_affected BIGINT NULL,
    node VARCHAR(255) NOT NULL,
    holder VARCHAR(255) NOT NULL,
    PRIMARY KEY (run_id),
    KEY ix_ticketdb_job_runs_job_started (job, started_at),
    KEY ix_ticketdb_job_runs_job_open (job, finished_at),
    CONSTRAINT fk_ticketdb_job_runs_job FOREIGN KEY (job) REFERENCES ticketdb_job_leases (job)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

INSERT INTO ticketdb_settings (setting_name, setting_value, description) VALUES
(
    'job_run_retention_days', 90,
    'ticketdb_job_runs rows older than this many days are deleted as each job runs (at least 1)'
);
