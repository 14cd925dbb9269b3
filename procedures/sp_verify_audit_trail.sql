DROP PROCEDURE IF EXISTS sp_verify_audit_trail;

DELIMITER $$

CREATE PROCEDURE sp_verify_audit_trail (
    IN in_ticket BIGINT UNSIGNED
)
READS SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Checks the hash chain of the audit trail (V025): every log row''s row_hash
must equal fn_ticket_log_hash of the previous row''s hash (by log_id, within
the ticket) and of its own columns, and the ticket''s last row must be its
chain head (service_tickets.log_head). Reads the live table and every
monthly archive. Returns one row per ticket whose chain is broken:
ticket_id, first_bad_log_id (NULL when the ticket has a head but no rows)
and problem; no rows when the trail is intact. A row edited behind the
triggers'' back is reported itself; a row removed or added is reported at
the row after it, or at the last row when the chain''s end was cut off.
Runs as its definer; uses the session variable @ticketdb_sql.

Parameters
-----------
in_ticket (BIGINT UNSIGNED): the ticket, or NULL for every ticket.

Example
-----------
CALL sp_verify_audit_trail(NULL);
CALL sp_verify_audit_trail(42);
'
BEGIN
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_where VARCHAR(60) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT '';

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_verify_audit_trail');

    IF in_ticket IS NOT NULL THEN
        IF NOT EXISTS (
            SELECT 1 FROM service_tickets
            WHERE ticket_id = in_ticket
        ) THEN
            SET v_message = CONCAT('ticketdb: ticket ', in_ticket, ': no such ticket');
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
        END IF;
        SET v_where = CONCAT(' AND t.ticket_id = ', in_ticket);
    END IF;

    SET @ticketdb_sql = CONCAT(
        'SELECT c.ticket_id, c.log_id AS first_bad_log_id, c.problem FROM (',
        'SELECT b.ticket_id, b.log_id, b.problem, ',
        'ROW_NUMBER() OVER (PARTITION BY b.ticket_id ORDER BY b.log_id) AS nth FROM (',
        'SELECT h.ticket_id, h.log_id, CASE ',
        'WHEN h.row_hash IS NULL THEN ''the row has no hash'' ',
        'WHEN h.row_hash <> h.expected_hash THEN ',
        '''the row does not match its hash: it was changed, added, or the row before it removed'' ',
        'WHEN h.next_log_id IS NULL AND NOT (h.row_hash <=> t.log_head) THEN ',
        '''the last row is not the ticket''''s chain head: rows after it were removed'' ',
        'END AS problem FROM (',
        'SELECT s.ticket_id, s.log_id, s.row_hash, LEAD(s.log_id) OVER w AS next_log_id, ',
        'fn_ticket_log_hash(LAG(s.row_hash) OVER w, s.ticket_id, s.action_type, s.agent_id, ',
        's.from_status, s.to_status, s.old_priority, s.new_priority, s.note, s.action_time, ',
        's.actor_agent_id, s.actor_login) AS expected_hash ',
        'FROM (', fn_ticket_log_source(in_ticket), ') AS s ',
        'WINDOW w AS (PARTITION BY s.ticket_id ORDER BY s.log_id)',
        ') AS h LEFT JOIN service_tickets AS t ON h.ticket_id = t.ticket_id',
        ') AS b WHERE b.problem IS NOT NULL',
        ') AS c WHERE c.nth = 1 ',
        'UNION ALL ',
        'SELECT t.ticket_id, NULL, ''the ticket has a chain head but no log rows'' ',
        'FROM service_tickets AS t LEFT JOIN (SELECT DISTINCT x.ticket_id FROM (',
        fn_ticket_log_source(in_ticket), ') AS x) AS s ON t.ticket_id = s.ticket_id ',
        'WHERE t.log_head IS NOT NULL AND s.ticket_id IS NULL', v_where, ' ',
        'ORDER BY ticket_id'
    );
    PREPARE stmt_verify FROM @ticketdb_sql;
    SET @ticketdb_sql = NULL;
    EXECUTE stmt_verify;
    DEALLOCATE PREPARE stmt_verify;
END$$

DELIMITER ;
