-- Which database login is which agent. A procedure that acts for an agent
-- (sp_merge_customers) takes the agent from here, by the user name of the
-- session's login (SESSION_USER() up to the '@'), instead of trusting an
-- agent id the caller passes. An admin binds each agent's login(s); no role
-- may write this table (a login that could bind itself to another agent
-- could act as that agent).
CREATE TABLE agent_logins (
    login_user VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    agent_id INT UNSIGNED NOT NULL,
    bound_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP()),
    PRIMARY KEY (login_user),
    KEY ix_agent_logins_agent (agent_id),
    CONSTRAINT fk_agent_logins_agent FOREIGN KEY (agent_id)
    REFERENCES agents (agent_id),
    CONSTRAINT chk_agent_logins_user CHECK (login_user <> '' AND login_user NOT LIKE '%@%')
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
