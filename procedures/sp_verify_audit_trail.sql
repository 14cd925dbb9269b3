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
the ticket''s head (service_tickets.log_seq and log_head). Against the last
seal (V031, sp_seal_audit_trail): every sealed ticket must still exist and
hold the row it was sealed with, the seals must chain, the last seal''s
digest must match its entries, and every sealed archive must still be
there. Returns one row per problem, EVERY broken row of every ticket,
ordered by ticket and ticket_seq: ticket_id (NULL: a seal or an archive),
first_bad_log_id (the ticket''s first broken row, the same on each of its
rows; NULL when none can be named), problem, log_id (the row this report
is about, NULL for a whole ticket) and ticket_seq. No rows: the trail is
intact. Runs as its definer; uses @ticketdb_sql and the temporary table
tmp_ticketdb_verify_last.

Parameters
-----------
in_ticket (BIGINT UNSIGNED): the ticket, or NULL for every ticket (and the
seals and archives).

Example
-----------
CALL sp_verify_audit_trail(NULL);
CALL sp_verify_audit_trail(42);
'
BEGIN
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_where VARCHAR(60) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT '';
    DECLARE v_source LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_sealed LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_seal_parts LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT '';
    DECLARE v_seal BIGINT UNSIGNED;
    DECLARE v_stored BINARY(32);
    DECLARE v_digest BINARY(32);
    DECLARE v_tickets BIGINT UNSIGNED;
    DECLARE v_rows BIGINT UNSIGNED;
    DECLARE v_archives INT UNSIGNED;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_verify_audit_trail');

    IF in_ticket IS NOT NULL THEN
        IF NOT EXISTS (
            SELECT 1 FROM service_tickets
            WHERE ticket_id = in_ticket
        ) AND NOT EXISTS (
            SELECT 1 FROM audit_seal_tickets
            WHERE ticket_id = in_ticket
        ) THEN
            SET v_message = CONCAT('ticketdb: ticket ', in_ticket, ': no such ticket');
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
        END IF;
        SET v_where = CONCAT(' AND ticket_id = ', in_ticket);
    END IF;
    SET v_source = fn_ticket_log_source(in_ticket);
    SELECT MAX(seal_id) INTO v_seal FROM audit_seals;
    -- The sealed state: every ticket's latest entry up to the last seal.
    SET v_sealed = CONCAT(
        '(SELECT e.ticket_id, e.seal_id, e.log_seq, e.log_head FROM audit_seal_tickets AS e ',
        'INNER JOIN (SELECT ticket_id, MAX(seal_id) AS seal_id FROM audit_seal_tickets ',
        'WHERE seal_id <= ', COALESCE(v_seal, 0), v_where, ' GROUP BY ticket_id) AS m ',
        'ON e.ticket_id = m.ticket_id AND e.seal_id = m.seal_id)'
    );

    -- Each ticket's last ticket_seq, live or archived.
    DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_verify_last;
    CREATE TEMPORARY TABLE tmp_ticketdb_verify_last (
        ticket_id BIGINT UNSIGNED NOT NULL,
        last_seq INT UNSIGNED NULL,
        PRIMARY KEY (ticket_id)
    ) ENGINE = InnoDB;
    SET @ticketdb_sql = CONCAT(
        'INSERT INTO tmp_ticketdb_verify_last (ticket_id, last_seq) ',
        'SELECT x.ticket_id, MAX(x.ticket_seq) FROM (', v_source, ') AS x GROUP BY x.ticket_id'
    );
    PREPARE stmt_verify FROM @ticketdb_sql;
    EXECUTE stmt_verify;
    DEALLOCATE PREPARE stmt_verify;

    IF in_ticket IS NULL AND v_seal IS NOT NULL THEN
        SELECT state_digest INTO v_stored FROM audit_seals
        WHERE seal_id = v_seal;
        CALL sp_audit_seal_digest(v_seal, v_digest, v_tickets, v_rows, v_archives);
        IF NOT (v_digest <=> v_stored) THEN
            SET v_seal_parts = CONCAT(
                'UNION ALL SELECT NULL, NULL, NULL, ''seal ', v_seal,
                ': its digest no longer matches its entries: seal entries were changed ',
                'or removed'' '
            );
        END IF;
        SET v_seal_parts = CONCAT(
            v_seal_parts,
            -- The seals chain: none removed, none changed.
            'UNION ALL SELECT NULL, NULL, NULL, CASE ',
            'WHEN g.seal_id <> COALESCE(g.prev_id, 0) + 1 THEN CONCAT(''seal '', g.seal_id, ',
            ''' does not follow seal '', COALESCE(g.prev_id, 0), '': seals were removed'') ',
            'WHEN NOT (g.prev_seal_hash <=> g.prev_hash) OR g.seal_hash <> fn_audit_seal_hash(',
            'g.prev_seal_hash, g.seal_id, g.sealed_at, g.sealed_by, g.tickets, g.log_rows, ',
            'g.archives, g.state_digest) THEN CONCAT(''seal '', g.seal_id, ',
            ''' does not match its hash: the seal was changed'') END ',
            'FROM (SELECT a.*, LAG(a.seal_id) OVER (ORDER BY a.seal_id) AS prev_id, ',
            'LAG(a.seal_hash) OVER (ORDER BY a.seal_id) AS prev_hash FROM audit_seals AS a) AS g ',
            -- Every sealed archive is still catalogued, with at least its rows.
            'UNION ALL SELECT NULL, NULL, NULL, CASE ',
            'WHEN c.table_name IS NULL THEN CONCAT(''archive '', z.table_name, '' (seal '', ',
            'z.seal_id, '': '', z.rows_archived, '' rows) is gone from ticket_log_archives'') ',
            'WHEN c.rows_archived < z.rows_archived THEN CONCAT(''archive '', z.table_name, ',
            ''' lists '', c.rows_archived, '' rows, seal '', z.seal_id, '' sealed '', ',
            'z.rows_archived) END ',
            'FROM audit_seal_archives AS z LEFT JOIN ticket_log_archives AS c ',
            'ON z.table_name = c.table_name WHERE z.seal_id = ', v_seal, ' '
        );
    END IF;
    IF in_ticket IS NULL THEN
        -- A catalogued archive must have its table (readers skip it otherwise).
        SET v_seal_parts = CONCAT(
            v_seal_parts,
            'UNION ALL SELECT NULL, NULL, NULL, CONCAT(''archive '', c.table_name, ',
            ''' is listed in ticket_log_archives but its table is gone'') ',
            'FROM ticket_log_archives AS c LEFT JOIN information_schema.tables AS i ',
            'ON i.table_schema = DATABASE() AND c.table_name = i.table_name ',
            'WHERE i.table_name IS NULL '
        );
    END IF;

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
        'WHEN h.ticket_seq = h.sealed_seq AND NOT (h.row_hash <=> h.sealed_head) THEN CONCAT(',
        '''the row is not the one seal '', h.sealed_by, '' sealed: the trail was rewritten'') ',
        'WHEN h.next_seq IS NULL AND h.head_ticket IS NULL THEN ',
        '''the row''''s ticket no longer exists'' ',
        'WHEN h.next_seq IS NULL AND (h.ticket_seq <> h.log_seq ',
        'OR NOT (h.row_hash <=> h.log_head)) ',
        'THEN ''the last row is not the ticket''''s chain head: rows after it were removed'' ',
        'END AS problem FROM (',
        'SELECT s.ticket_id, s.log_id, s.ticket_seq, s.row_hash, t.ticket_id AS head_ticket, ',
        't.log_seq, t.log_head, z.seal_id AS sealed_by, z.log_seq AS sealed_seq, ',
        'z.log_head AS sealed_head, LAG(s.ticket_seq) OVER w AS prev_seq, ',
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
        'LEFT JOIN ', v_sealed, ' AS z ON s.ticket_id = z.ticket_id ',
        'WINDOW w AS (PARTITION BY s.ticket_id, s.ticket_seq IS NULL ',
        'ORDER BY s.ticket_seq, s.log_id)',
        ') AS h ',
        -- Whole tickets: a head without rows, and what the last seal holds.
        'UNION ALL SELECT k.ticket_id, NULL, NULL, CASE ',
        'WHEN t.ticket_id IS NULL THEN CONCAT(''the ticket was removed after seal '', ',
        'z.seal_id, '' (sealed with '', z.log_seq, '' log rows)'') ',
        'WHEN s.ticket_id IS NULL AND (t.log_head IS NOT NULL OR t.log_seq > 0) THEN ',
        '''the ticket has a chain head but no log rows'' ',
        'WHEN t.log_seq < z.log_seq THEN CONCAT(''the ticket''''s log_seq went back from '', ',
        'z.log_seq, '' (seal '', z.seal_id, '') to '', t.log_seq, '': rows were removed'') ',
        'WHEN COALESCE(s.last_seq, 0) < z.log_seq THEN CONCAT(''log rows sealed by seal '', ',
        'z.seal_id, '' were removed (it sealed '', z.log_seq, '', the trail ends at '', ',
        'COALESCE(s.last_seq, 0), '')'') END ',
        'FROM (SELECT ticket_id FROM service_tickets WHERE (log_seq > 0 OR log_head IS NOT NULL)',
        v_where, ' UNION SELECT ticket_id FROM ', v_sealed, ' AS y) AS k ',
        'LEFT JOIN service_tickets AS t ON k.ticket_id = t.ticket_id ',
        'LEFT JOIN ', v_sealed, ' AS z ON k.ticket_id = z.ticket_id ',
        'LEFT JOIN tmp_ticketdb_verify_last AS s ON k.ticket_id = s.ticket_id ',
        v_seal_parts,
        ') AS p WHERE p.problem IS NOT NULL ',
        'ORDER BY p.ticket_id, p.ticket_seq IS NULL, p.ticket_seq, p.log_id, p.problem'
    );
    PREPARE stmt_verify FROM @ticketdb_sql;
    SET @ticketdb_sql = NULL;
    EXECUTE stmt_verify;
    DEALLOCATE PREPARE stmt_verify;
    DROP TEMPORARY TABLE tmp_ticketdb_verify_last;
END$$

DELIMITER ;
