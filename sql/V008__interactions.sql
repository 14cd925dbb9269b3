-- Every contact with a customer, on any channel, with or without a ticket.
CREATE TABLE interactions (
    interaction_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    customer_id INT UNSIGNED NOT NULL,
    ticket_id BIGINT UNSIGNED NULL,
    agent_id INT UNSIGNED NULL,
    channel ENUM('email', 'phone', 'chat', 'web') NOT NULL,
    summary VARCHAR(1000) NULL,
    occurred_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (interaction_id),
    KEY ix_interactions_customer (customer_id, occurred_at),
    KEY ix_interactions_ticket (ticket_id),
    KEY ix_interactions_agent (agent_id),
    CONSTRAINT fk_interactions_customer FOREIGN KEY (customer_id)
    REFERENCES customers (customer_id),
    CONSTRAINT fk_interactions_ticket FOREIGN KEY (ticket_id)
    REFERENCES service_tickets (ticket_id),
    CONSTRAINT fk_interactions_agent FOREIGN KEY (agent_id)
    REFERENCES agents (agent_id),
    CONSTRAINT chk_interactions_time CHECK (occurred_at >= '2000-01-01')
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
