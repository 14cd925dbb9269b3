-- Monthly archive of the audit trail. sp_archive_ticket_logs moves log rows
-- older than a month boundary into one table per month, ticket_logs_YYYYMM,
-- made with CREATE TABLE ... LIKE ticket_logs (same columns and indexes, no
-- foreign keys), each batch in one transaction: a server killed mid-run
-- leaves every row in exactly one table. This catalogue lists the archives,
-- so that readers (sp_ticket_trace, sp_verify_audit_trail) find them without
-- asking information_schema; rows_archived moves in the same transaction as
-- the rows.
CREATE TABLE ticket_log_archives (
    archive_month DATE NOT NULL,
    table_name VARCHAR(64) NOT NULL,
    rows_archived BIGINT UNSIGNED NOT NULL DEFAULT 0,
    created_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP()),
    last_archived_at DATETIME NULL,
    PRIMARY KEY (archive_month),
    UNIQUE KEY uq_ticket_log_archives_table (table_name),
    CONSTRAINT chk_ticket_log_archives_month CHECK (DAYOFMONTH(archive_month) = 1),
    -- Readers build SQL from table_name: it can only be the month's own name.
    CONSTRAINT chk_ticket_log_archives_name CHECK (
        table_name = CONCAT('ticket_logs_', YEAR(archive_month) * 100 + MONTH(archive_month))
    )
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- The archive reads old rows by time; the monthly event asks "anything older
-- than the cutoff?" with one index dive.
ALTER TABLE ticket_logs
    ADD KEY ix_ticket_logs_time (action_time, log_id);

-- How many resolutions a ticket has had (1 + its reopens): the flow counts
-- reopens here, so that rating a ticket never depends on log rows that may
-- have been archived.
ALTER TABLE service_tickets
    ADD COLUMN reopen_count SMALLINT UNSIGNED NOT NULL DEFAULT 0;

UPDATE service_tickets AS t
INNER JOIN (
    SELECT
        ticket_id,
        COUNT(*) AS reopens
    FROM ticket_logs
    WHERE action_type = 'reopen'
    GROUP BY ticket_id
) AS r ON t.ticket_id = r.ticket_id
SET t.reopen_count = r.reopens;

INSERT INTO ticketdb_settings (setting_name, setting_value, description) VALUES
(
    'archive_live_months', 12,
    'ev_archive_ticket_logs keeps this many months of ticket_logs live, the current one '
    'included; older rows move to ticket_logs_YYYYMM (0: the event archives nothing)'
),
(
    'archive_day_of_month', 1,
    'ev_archive_ticket_logs archives from this day of the month on (1-28), at 02:15 UTC'
),
(
    'archive_batch_rows', 5000,
    'rows sp_archive_ticket_logs moves per transaction (100-100000)'
);
