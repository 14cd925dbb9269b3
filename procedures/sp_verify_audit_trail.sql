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
Checks the audit trail (docs/audit-trail.md). Each ticket''s rows, live and
archived, are followed in ticket_seq order (V030, the order the flow wrote
them under the ticket''s lock): the numbers must run 1, 2, 3 ... without a
gap or a repeat, every row_hash must be the hash of the previous row''s
hash and of the row itself (fn_ticket_log_hash for a ticket''s first
log_seq_v025 rows, fn_ticket_log_hash_seq after), and the last row must be
the ticket''s head (service_tickets.log_seq and log_head). Returns one row
per problem, EVERY broken row of every ticket, ordered by ticket and
ticket_seq: ticket_id, first_bad_log_id (the ticket''s first broken row,
the same on each of its rows; NULL when none can be named), problem,
log_id (the row this report is about, NULL for a whole ticket) and
ticket_seq. No rows: the trail is intact. A row edited is reported itself,
a removed row at the row after the gap, rows cut off the end at the new
last row. Runs as its definer; uses the session variable @ticketdb_sql.

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
    DECLARE v_source TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

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
    SET v_source = fn_ticket_log_source(in_ticket);

    -- Rows without a number form their own partition, so they do not break
    -- the numbered rows' order; they are reported themselves.
    SET @ticketdb_sql = CONCAT(
        'SELECT p.ticket_id, CAST(FIRST_VALUE(p.log_id) OVER (PARTITION BY p.ticket_id ',
        'ORDER BY p.ticket_seq IS NULL, p.ticket_seq, p.log_id) AS UNSIGNED) AS first_bad_log_id, ',
        'p.problem, CAST(p.log_id AS UNSIGNED) AS log_id, ',
        'CAST(p.ticket_seq AS UNSIGNED) AS ticket_seq FROM (',
        'SELECT h.ticket_id, h.log_id, h.ticket_seq, CASE ',
        'WHEN h.ticket_seq IS NULL AND h.row_hash IS NULL THEN ''the row has no hash'' ',
        'WHEN h.ticket_seq IS NULL THEN ',
        '''the row has no ticket_seq: it was written behind the flow''''s back'' ',
        'WHEN h.row_hash IS NULL THEN ''the row has no hash'' ',
        'WHEN h.ticket_seq = h.prev_seq THEN ',
        '''another row of the ticket has the same ticket_seq'' ',
        'WHEN h.ticket_seq <> COALESCE(h.prev_seq, 0) + 1 THEN CONCAT(',
        '''rows before it were removed (ticket_seq '', COALESCE(h.prev_seq, 0) + 1, ',
        'IF(h.ticket_seq - 1 > COALESCE(h.prev_seq, 0) + 1, CONCAT(''-'', h.ticket_seq - 1), ',
        ''''') , '' missing)'') ',
        'WHEN h.row_hash <> h.expected_hash THEN ',
        '''the row does not match its hash: it was changed, added, or the row before it removed'' ',
        'WHEN h.next_seq IS NULL AND h.head_ticket IS NULL THEN ',
        '''the row''''s ticket no longer exists'' ',
        'WHEN h.next_seq IS NULL AND (h.ticket_seq <> h.log_seq OR NOT (h.row_hash <=> h.log_head)) ',
        'THEN ''the last row is not the ticket''''s chain head: rows after it were removed'' ',
        'END AS problem FROM (',
        'SELECT s.ticket_id, s.log_id, s.ticket_seq, s.row_hash, t.ticket_id AS head_ticket, ',
        't.log_seq, t.log_head, LAG(s.ticket_seq) OVER w AS prev_seq, ',
        'LEAD(s.ticket_seq) OVER w AS next_seq, ',
        'IF(s.ticket_seq <= t.log_seq_v025, ',
        'fn_ticket_log_hash(LAG(s.row_hash) OVER w, s.ticket_id, s.action_type, s.agent_id, ',
        's.from_status, s.to_status, s.old_priority, s.new_priority, s.note, s.action_time, ',
        's.actor_agent_id, s.actor_login), ',
        'fn_ticket_log_hash_seq(LAG(s.row_hash) OVER w, s.ticket_seq, s.ticket_id, ',
        's.action_type, s.agent_id, s.from_status, s.to_status, s.old_priority, ',
        's.new_priority, s.note, s.action_time, s.actor_agent_id, s.actor_login)',
        ') AS expected_hash ',
        'FROM (', v_source, ') AS s LEFT JOIN service_tickets AS t ON s.ticket_id = t.ticket_id ',
        'WINDOW w AS (PARTITION BY s.ticket_id, s.ticket_seq IS NULL ',
        'ORDER BY s.ticket_seq, s.log_id)',
        ') AS h ',
        'UNION ALL ',
        'SELECT t.ticket_id, NULL, NULL, ''the ticket has a chain head but no log rows'' ',
        'FROM service_tickets AS t LEFT JOIN (SELECT DISTINCT x.ticket_id FROM (',
        v_source, ') AS x) AS s ON t.ticket_id = s.ticket_id ',
        'WHERE (t.log_head IS NOT NULL OR t.log_seq > 0) AND s.ticket_id IS NULL', v_where,
        ') AS p WHERE p.problem IS NOT NULL ',
        'ORDER BY p.ticket_id, p.ticket_seq IS NULL, p.ticket_seq, p.log_id'
    );
    PREPARE stmt_verify FROM @ticketdb_sql;
    SET @ticketdb_sql = NULL;
    EXECUTE stmt_verify;
    DEALLOCATE PREPARE stmt_verify;
END$$

DELIMITER ;
