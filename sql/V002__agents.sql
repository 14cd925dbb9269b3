-- Support agents, supervisors and admins.
CREATE TABLE agents (
    agent_id INT UNSIGNED NOT NULL AUTO_INCREMENT,
    name VARCHAR(200) NOT NULL,
    email VARCHAR(254) NOT NULL,
    department VARCHAR(100) NOT NULL DEFAULT 'support',
    role ENUM('agent', 'supervisor', 'admin') NOT NULL DEFAULT 'agent',
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (agent_id),
    UNIQUE KEY uq_agents_email (email),
    CONSTRAINT chk_agents_name CHECK (name <> ''),
    CONSTRAINT chk_agents_email CHECK (email REGEXP '^[^@ ]+@[^@ ]+[.][^@ .]+$'),
    CONSTRAINT chk_agents_department CHECK (department <> '')
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
