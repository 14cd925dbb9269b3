-- Status, priority, assignee and the flow's timestamps change only through
-- the status flow (a row in ticket_logs); a direct UPDATE of them is refused,
-- naming the first such column it changes, and so is one of reopen_count or
-- log_head (the head of the ticket's hash chain, V025) or of log_seq and
-- log_seq_v025 (its row count and hash format, V030). Subject, description
-- and category stay editable.
--
-- The flow's own UPDATE is recognised by its mark in ticketdb_flow_marks
-- (this connection, this ticket), which only the flow trigger writes and
-- which lives for that one statement, or by the escalation's mark (no
-- ticket, a batch_token: sp_escalate_priorities holds it for its one
-- UPDATE ... JOIN, V040). Nothing a session can set, no @variable, opens
-- this gate.
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_service_tickets_before_update;

DELIMITER $$

CREATE TRIGGER trg_service_tickets_before_update
BEFORE UPDATE ON service_tickets
FOR EACH ROW
BEGIN
    DECLARE v_flow_ticket BIGINT UNSIGNED;
    DECLARE v_batch BOOLEAN DEFAULT FALSE;
    DECLARE v_column VARCHAR(30) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

    IF
        NEW.ticket_id <> OLD.ticket_id
        OR NEW.current_status <> OLD.current_status
        OR NEW.priority <> OLD.priority
        OR NOT (NEW.assigned_agent_id <=> OLD.assigned_agent_id)
        OR NEW.created_at <> OLD.created_at
        OR NOT (NEW.last_action_at <=> OLD.last_action_at)
        OR NOT (NEW.first_response_at <=> OLD.first_response_at)
        OR NOT (NEW.resolved_at <=> OLD.resolved_at)
        OR NOT (NEW.closed_at <=> OLD.closed_at)
        OR NOT (NEW.waiting_since <=> OLD.waiting_since)
        OR NEW.paused_minutes <> OLD.paused_minutes
        OR NEW.reopen_count <> OLD.reopen_count
        OR NOT (NEW.log_head <=> OLD.log_head)
        OR NEW.log_seq <> OLD.log_seq
        OR NEW.log_seq_v025 <> OLD.log_seq_v025
    THEN
        -- Only now look for the flow's mark: inside a writing statement this
        -- read locks, so it is not made for edits that need no mark (subject,
        -- alert_stage), and the flow finds its own row (a record lock only).
        -- The escalation's mark (no ticket, a batch_token) lets through the
        -- one UPDATE ... JOIN of sp_escalate_priorities, which raises every
        -- ticket it wrote a log row for (docs/security.md).
        SELECT
            ticket_id,
            batch_token IS NOT NULL AS has_batch
        INTO v_flow_ticket, v_batch
        FROM ticketdb_flow_marks
        WHERE
            node_key = CRC32(CONCAT(@@hostname, ':', @@port))
            AND connection_id = CONNECTION_ID();
        IF NOT (v_flow_ticket <=> OLD.ticket_id OR (v_flow_ticket IS NULL AND v_batch)) THEN
            SET v_column = CASE
                WHEN NEW.ticket_id <> OLD.ticket_id THEN 'ticket_id'
                WHEN NEW.current_status <> OLD.current_status THEN 'current_status'
                WHEN NEW.priority <> OLD.priority THEN 'priority'
                WHEN NOT (NEW.assigned_agent_id <=> OLD.assigned_agent_id)
                    THEN 'assigned_agent_id'
                WHEN NEW.created_at <> OLD.created_at THEN 'created_at'
                WHEN NOT (NEW.last_action_at <=> OLD.last_action_at) THEN 'last_action_at'
                WHEN NOT (NEW.first_response_at <=> OLD.first_response_at)
                    THEN 'first_response_at'
                WHEN NOT (NEW.resolved_at <=> OLD.resolved_at) THEN 'resolved_at'
                WHEN NOT (NEW.closed_at <=> OLD.closed_at) THEN 'closed_at'
                WHEN NOT (NEW.waiting_since <=> OLD.waiting_since) THEN 'waiting_since'
                WHEN NEW.paused_minutes <> OLD.paused_minutes THEN 'paused_minutes'
                WHEN NEW.reopen_count <> OLD.reopen_count THEN 'reopen_count'
                WHEN NOT (NEW.log_head <=> OLD.log_head) THEN 'log_head'
                WHEN NEW.log_seq <> OLD.log_seq THEN 'log_seq'
                ELSE 'log_seq_v025'
            END;
            SET v_message = CONCAT(
                'ticketdb: ticket ', OLD.ticket_id, ': ', v_column,
                ' changes only through ticket_logs (the status flow)'
            );
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
        END IF;
    ELSEIF
        -- Hostile sessions (docs/security.md): an edit (subject, description,
        -- category, alert_stage) under warnings (weak sql_mode, IGNORE) or a
        -- weakening switch is refused, naming it. Only here, not on the flow's
        -- own UPDATE: the flow trigger checked that session already, and this
        -- trigger runs in the flow's hot path (the check there cost ~30%).
        @@warning_count > 0 OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        SET v_message = LEFT(CONCAT(
            'ticketdb: ', 'service_tickets', ': ',
            CASE
                WHEN @@warning_count > 0
                    THEN
                        CONCAT(
                            'refused: the statement raised ', @@warning_count,
                            ' warning(s) before the rules ran (sql_mode not strict, or IGNORE)'
                        )
                WHEN @@session.max_error_count = 0 THEN 'refused under max_error_count = 0'
                WHEN @@session.foreign_key_checks = 0
                    THEN 'refused under foreign_key_checks = 0'
                WHEN @@session.unique_checks = 0 THEN 'refused under unique_checks = 0'
                ELSE 'refused under check_constraint_checks = 0'
            END
        ), 128);
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
END$$

DELIMITER ;
