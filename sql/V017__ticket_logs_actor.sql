-- Who made each move. agent_id says whom a move concerns (for assign and
-- transfer: the new assignee); actor_agent_id says which agent did it, when
-- the caller names one (the flow fills it from agent_id for every action but
-- assign and transfer), and actor_login is the database login that wrote the
-- row, set by the flow trigger whatever the client sends.
ALTER TABLE ticket_logs
    ADD COLUMN actor_agent_id INT UNSIGNED NULL,
    ADD COLUMN actor_login VARCHAR(300) NULL,
    ADD CONSTRAINT fk_ticket_logs_actor FOREIGN KEY (actor_agent_id)
    REFERENCES agents (agent_id);
