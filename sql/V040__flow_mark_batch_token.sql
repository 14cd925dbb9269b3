-- The escalation's set-based door (sp_escalate_priorities, docs/security.md,
-- "The escalation's mark"). The procedure writes its log rows with their
-- from/to values, numbers and hashes already computed, in one INSERT ...
-- SELECT, and raises the tickets in one UPDATE ... JOIN; the flow trigger
-- takes such a row as it is, and the guard on service_tickets lets such an
-- UPDATE through, only while this connection holds an escalation mark: a
-- row with no ticket (ticket_id NULL) and batch_token, a random secret the
-- procedure draws for the call (RANDOM_BYTES) and keeps in a local variable.
-- Each log row carries the secret in actor_login, which the trigger compares
-- with the mark and then overwrites with the session's login, as it always
-- did. No role can read or write this table, so no session learns or forges
-- the secret, even one left holding the mark by an interrupted call. The
-- table is empty outside a statement or a running procedure: instant.
ALTER TABLE ticketdb_flow_marks
    MODIFY COLUMN ticket_id BIGINT UNSIGNED NULL,
    ADD COLUMN batch_token CHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL;
