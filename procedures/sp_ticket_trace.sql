DROP PROCEDURE IF EXISTS sp_ticket_trace;

DELIMITER $$

CREATE PROCEDURE sp_ticket_trace (
    IN in_ticket_id BIGINT UNSIGNED
)
READS SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
The ticket''s log rows in the order the flow applied them (ticket_seq, V030;
rows without one last, by action_time and log_id),
with the name of the agent the row concerns (agent_id), the agent who
acted (actor_agent_id, when known) and the database login that wrote the
row (actor_login): the audit trail for audits and complaints. Reads the live
table and every monthly archive (ticket_logs_YYYYMM) that can hold the
ticket''s rows, so a trace is whole whatever has been archived. Runs as its
definer, so that a caller needs no privilege on archives made after its
grants. Uses the session variable @ticketdb_sql for its statement.

Parameters
-----------
in_ticket_id (BIGINT UNSIGNED): the ticket.

Example
-----------
CALL sp_ticket_trace(42);
'
BEGIN
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_ticket_trace');

    IF NOT EXISTS (
        SELECT 1 FROM service_tickets
        WHERE ticket_id = in_ticket_id
    ) THEN
        SET v_message = CONCAT(
            'ticketdb: ticket ', COALESCE(in_ticket_id, 'NULL'), ': no such ticket'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;

    SET @ticketdb_sql = CONCAT(
        'SELECT l.log_id, l.action_time, l.action_type, l.agent_id, ',
        'a.name AS agent_name, l.from_status, l.to_status, l.old_priority, ',
        'l.new_priority, l.note, l.actor_agent_id, l.actor_login FROM (',
        fn_ticket_log_source(in_ticket_id),
        ') AS l LEFT JOIN agents AS a ON l.agent_id = a.agent_id ',
        'ORDER BY l.ticket_seq IS NULL, l.ticket_seq ASC, l.action_time ASC, l.log_id ASC'
    );
    PREPARE stmt_trace FROM @ticketdb_sql;
    SET @ticketdb_sql = NULL;
    EXECUTE stmt_trace;
    DEALLOCATE PREPARE stmt_trace;
END$$

DELIMITER ;
