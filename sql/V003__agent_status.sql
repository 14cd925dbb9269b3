-- Whether each agent is online now; one row per agent.
CREATE TABLE agent_status (
    agent_id INT UNSIGNED NOT NULL,
    status ENUM('online', 'busy', 'offline') NOT NULL DEFAULT 'offline',
    last_seen DATETIME NULL,
    PRIMARY KEY (agent_id),
    KEY ix_agent_status_status (status, last_seen),
    CONSTRAINT fk_agent_status_agent FOREIGN KEY (agent_id)
    REFERENCES agents (agent_id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
