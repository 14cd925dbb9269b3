-- Tickets. Status, priority, assignee and the flow's timestamps change only
-- through rows inserted into ticket_logs (see triggers/).
--
-- deadline           = created_at + resolution target + paused_minutes
--                      (urgent 2 h, high 24 h, medium and low 72 h)
-- first_response_due = created_at + first-response target
--                      (urgent 30 min, high 2 h, medium 8 h, low 24 h)
CREATE TABLE service_tickets (
    ticket_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    customer_id INT UNSIGNED NOT NULL,
    category_id INT UNSIGNED NULL,
    subject VARCHAR(255) NOT NULL,
    description TEXT NULL,
    priority ENUM('urgent', 'high', 'medium', 'low') NOT NULL DEFAULT 'medium',
    current_status ENUM(
        'pending', 'in_progress', 'waiting_customer', 'resolved', 'closed'
    ) NOT NULL DEFAULT 'pending',
    assigned_agent_id INT UNSIGNED NULL,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_action_at DATETIME NULL,
    first_response_at DATETIME NULL,
    resolved_at DATETIME NULL,
    closed_at DATETIME NULL,
    waiting_since DATETIME NULL,
    paused_minutes INT UNSIGNED NOT NULL DEFAULT 0,
    deadline DATETIME GENERATED ALWAYS AS (
        created_at + INTERVAL (
            CASE priority WHEN 'urgent' THEN 120 WHEN 'high' THEN 1440 ELSE 4320 END
            + paused_minutes
        ) MINUTE
    ) STORED,
    first_response_due DATETIME GENERATED ALWAYS AS (
        created_at + INTERVAL (
            CASE priority
                WHEN 'urgent' THEN 30 WHEN 'high' THEN 120 WHEN 'medium' THEN 480 ELSE 1440
            END
        ) MINUTE
    ) STORED,
    PRIMARY KEY (ticket_id),
    -- the overdue scan and the alerts: open tickets by deadline, from the index alone
    KEY ix_tickets_status_deadline (current_status, deadline, priority, assigned_agent_id),
    -- claiming: pending and unassigned, highest priority first, then earliest deadline
    KEY ix_tickets_queue (current_status, assigned_agent_id, priority, deadline),
    -- escalation rules: open tickets of one priority older than an age
    KEY ix_tickets_priority_age (priority, current_status, created_at),
    KEY ix_tickets_customer (customer_id, created_at),
    KEY ix_tickets_agent (assigned_agent_id, current_status),
    KEY ix_tickets_closed (closed_at),
    KEY ix_tickets_category (category_id),
    CONSTRAINT fk_tickets_customer FOREIGN KEY (customer_id)
    REFERENCES customers (customer_id),
    CONSTRAINT fk_tickets_category FOREIGN KEY (category_id)
    REFERENCES categories (category_id) ON DELETE SET NULL,
    CONSTRAINT fk_tickets_agent FOREIGN KEY (assigned_agent_id)
    REFERENCES agents (agent_id),
    CONSTRAINT chk_tickets_subject CHECK (TRIM(subject) <> ''),
    CONSTRAINT chk_tickets_created CHECK (created_at >= '2000-01-01'),
    CONSTRAINT chk_tickets_first_response CHECK (first_response_at >= created_at),
    CONSTRAINT chk_tickets_resolved CHECK (resolved_at >= created_at),
    CONSTRAINT chk_tickets_closed CHECK (closed_at >= created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
