-- Live chat conversations; agent_id stays NULL until an agent claims it.
CREATE TABLE conversations (
    conversation_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    customer_id INT UNSIGNED NOT NULL,
    agent_id INT UNSIGNED NULL,
    ticket_id BIGINT UNSIGNED NULL,
    status ENUM('open', 'pending', 'closed') NOT NULL DEFAULT 'open',
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (conversation_id),
    KEY ix_conversations_queue (status, agent_id, created_at),
    KEY ix_conversations_customer (customer_id, created_at),
    KEY ix_conversations_agent (agent_id, status),
    KEY ix_conversations_ticket (ticket_id),
    CONSTRAINT fk_conversations_customer FOREIGN KEY (customer_id)
    REFERENCES customers (customer_id),
    CONSTRAINT fk_conversations_agent FOREIGN KEY (agent_id)
    REFERENCES agents (agent_id),
    CONSTRAINT fk_conversations_ticket FOREIGN KEY (ticket_id)
    REFERENCES service_tickets (ticket_id),
    CONSTRAINT chk_conversations_updated CHECK (updated_at >= created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
