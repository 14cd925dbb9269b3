-- The audit trail. Inserting a row moves its ticket (triggers/); rows are
-- never updated or deleted.
CREATE TABLE ticket_logs (
    log_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    ticket_id BIGINT UNSIGNED NOT NULL,
    action_type ENUM(
        'assign', 'transfer', 'reply', 'wait_customer', 'resume',
        'resolve', 'close', 'reopen', 'escalate'
    ) NOT NULL,
    agent_id INT UNSIGNED NULL,
    from_status ENUM(
        'pending', 'in_progress', 'waiting_customer', 'resolved', 'closed'
    ) NULL,
    to_status ENUM(
        'pending', 'in_progress', 'waiting_customer', 'resolved', 'closed'
    ) NULL,
    old_priority ENUM('urgent', 'high', 'medium', 'low') NULL,
    new_priority ENUM('urgent', 'high', 'medium', 'low') NULL,
    note VARCHAR(1000) NULL,
    action_time DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (log_id),
    KEY ix_ticket_logs_ticket (ticket_id, action_time, log_id),
    KEY ix_ticket_logs_agent (agent_id, action_time),
    CONSTRAINT fk_ticket_logs_ticket FOREIGN KEY (ticket_id)
    REFERENCES service_tickets (ticket_id),
    CONSTRAINT fk_ticket_logs_agent FOREIGN KEY (agent_id)
    REFERENCES agents (agent_id),
    CONSTRAINT chk_ticket_logs_time CHECK (action_time >= '2000-01-01')
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
