-- The import path for history. A log row whose action_time is more than
-- 5 minutes in the past is refused, unless a matching row (same ticket,
-- action and time) waits here: the flow trigger then consumes that row and
-- takes the log row. To import, INSERT the rows here, then INSERT the same
-- rows into ticket_logs, oldest first (README: "Importing history").
--
-- No role is granted anything here: an account that may import is given
-- INSERT on this table by a DBA, on purpose.
CREATE TABLE ticket_log_imports (
    import_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    ticket_id BIGINT UNSIGNED NOT NULL,
    action_type ENUM(
        'assign', 'transfer', 'reply', 'wait_customer', 'resume',
        'resolve', 'close', 'reopen', 'escalate'
    ) NOT NULL,
    action_time DATETIME NOT NULL,
    staged_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP()),
    PRIMARY KEY (import_id),
    KEY ix_ticket_log_imports_match (ticket_id, action_time, action_type)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
