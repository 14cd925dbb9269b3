-- Alerts written by sp_generate_alerts: one per ticket, type and deadline, so
-- a ticket whose deadline moves (pause, escalation) is alerted again.
CREATE TABLE ticket_alerts (
    alert_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    ticket_id BIGINT UNSIGNED NOT NULL,
    alert_type ENUM('due_soon', 'overdue') NOT NULL,
    deadline DATETIME NOT NULL,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    sent_at DATETIME NULL,
    PRIMARY KEY (alert_id),
    UNIQUE KEY uq_ticket_alerts_once (ticket_id, alert_type, deadline),
    KEY ix_ticket_alerts_unsent (sent_at, created_at),
    CONSTRAINT fk_ticket_alerts_ticket FOREIGN KEY (ticket_id)
    REFERENCES service_tickets (ticket_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
