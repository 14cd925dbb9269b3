-- The morning list written by sp_snapshot_urgent_tickets: open tickets that
-- are urgent, overdue or due by the end of the snapshot day.
CREATE TABLE daily_urgent_tickets (
    snapshot_date DATE NOT NULL,
    ticket_id BIGINT UNSIGNED NOT NULL,
    reason ENUM('overdue', 'due_today', 'urgent') NOT NULL,
    priority ENUM('urgent', 'high', 'medium', 'low') NOT NULL,
    current_status ENUM('pending', 'in_progress', 'waiting_customer') NOT NULL,
    customer_id INT UNSIGNED NOT NULL,
    customer_tier ENUM('standard', 'vip') NOT NULL,
    assigned_agent_id INT UNSIGNED NULL,
    subject VARCHAR(255) NOT NULL,
    deadline DATETIME NOT NULL,
    minutes_left INT NOT NULL,
    taken_at DATETIME NOT NULL,
    PRIMARY KEY (snapshot_date, ticket_id),
    KEY ix_daily_urgent_ticket (ticket_id),
    CONSTRAINT fk_daily_urgent_ticket FOREIGN KEY (ticket_id)
    REFERENCES service_tickets (ticket_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
