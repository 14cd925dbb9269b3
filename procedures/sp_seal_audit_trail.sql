DROP PROCEDURE IF EXISTS sp_seal_audit_trail;

DELIMITER $$

CREATE PROCEDURE sp_seal_audit_trail ()
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Seals the audit trail (V031, docs/audit-trail.md): appends one audit_seals
row whose state_digest (sp_audit_seal_digest) covers every ticket''s
log_seq and log_head and every archive''s row count, and whose seal_hash
chains it to the previous seal. A ticket enters audit_seal_tickets when it
is new or has grown since its last entry and its trail still holds the row
that entry sealed (same ticket_seq, same hash, live or archived); a ticket
that shrank, or whose sealed row is gone or changed, keeps its last entry,
so sp_verify_audit_trail keeps reporting it: a seal never forgets nor
launders a ticket. Reads at READ COMMITTED (no lock on tickets, so the flow
goes on meanwhile; each ticket''s head and count are read together) and
commits; call it outside a transaction. Returns one row: seal_id,
sealed_at, tickets, log_rows, archives, tickets_sealed (entries written),
tickets_refused (changed but not resealed), state_digest and seal_hash
(hex). Run daily by ev_seal_audit_trail. Uses @ticketdb_sql and the
temporary tables tmp_ticketdb_seal_last and tmp_ticketdb_seal_new.

Parameters
-----------
None.

Example
-----------
CALL sp_seal_audit_trail();
'
BEGIN
    DECLARE v_done BOOLEAN DEFAULT FALSE;
    DECLARE v_seal BIGINT UNSIGNED;
    DECLARE v_prev_seal BIGINT UNSIGNED;
    DECLARE v_prev_hash BINARY(32);
    DECLARE v_hash BINARY(32);
    DECLARE v_digest BINARY(32);
    DECLARE v_now DATETIME;
    DECLARE v_tickets BIGINT UNSIGNED;
    DECLARE v_rows BIGINT UNSIGNED;
    DECLARE v_archives INT UNSIGNED;
    DECLARE v_sealed BIGINT UNSIGNED;
    DECLARE v_refused BIGINT UNSIGNED;
    DECLARE v_table VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_by VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE c_archives CURSOR FOR
        SELECT a.table_name
        FROM ticket_log_archives AS a
        INNER JOIN information_schema.tables AS i
            ON
                i.table_schema = DATABASE()
                AND a.table_name = i.table_name
        ORDER BY a.archive_month;
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = TRUE;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_seal_new;
        DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_seal_last;
        RESIGNAL;
    END;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_seal_audit_trail');

    DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_seal_new;
    DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_seal_last;
    CREATE TEMPORARY TABLE tmp_ticketdb_seal_last (
        ticket_id BIGINT UNSIGNED NOT NULL,
        seal_id BIGINT UNSIGNED NOT NULL,
        PRIMARY KEY (ticket_id)
    ) ENGINE = InnoDB;
    CREATE TEMPORARY TABLE tmp_ticketdb_seal_new (
        ticket_id BIGINT UNSIGNED NOT NULL,
        log_seq INT UNSIGNED NOT NULL,
        log_head BINARY(32) NULL,
        old_seq INT UNSIGNED NULL,
        old_head BINARY(32) NULL,
        confirmed BOOLEAN NOT NULL,
        PRIMARY KEY (ticket_id)
    ) ENGINE = InnoDB;

    SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
    START TRANSACTION;
    -- One seal at a time: the last seal's row is locked until COMMIT.
    SELECT
        seal_id,
        seal_hash
    INTO v_prev_seal, v_prev_hash
    FROM audit_seals
    WHERE seal_id = (SELECT MAX(a.seal_id) FROM audit_seals AS a)
    FOR UPDATE;
    SET v_done = FALSE;
    SET v_seal = COALESCE(v_prev_seal, 0) + 1;

    -- Tickets new or grown since their last entry.
    INSERT INTO tmp_ticketdb_seal_last (ticket_id, seal_id)
    SELECT
        ticket_id,
        MAX(seal_id) AS seal_id
    FROM audit_seal_tickets
    GROUP BY ticket_id;
    INSERT INTO tmp_ticketdb_seal_new (
        ticket_id, log_seq, log_head, old_seq, old_head, confirmed
    )
    SELECT
        t.ticket_id,
        t.log_seq,
        t.log_head,
        z.log_seq AS old_seq,
        z.log_head AS old_head,
        z.ticket_id IS NULL OR z.log_seq = 0 AS confirmed
    FROM service_tickets AS t
    LEFT JOIN tmp_ticketdb_seal_last AS m ON t.ticket_id = m.ticket_id
    LEFT JOIN audit_seal_tickets AS z
        ON m.ticket_id = z.ticket_id AND m.seal_id = z.seal_id
    WHERE z.ticket_id IS NULL OR t.log_seq > z.log_seq;

    -- A grown ticket still holds the row its last entry sealed.
    UPDATE tmp_ticketdb_seal_new AS n
    INNER JOIN ticket_logs AS l -- noqa: LT02
            ON n.ticket_id = l.ticket_id AND n.old_seq = l.ticket_seq
    SET n.confirmed = TRUE
    WHERE NOT n.confirmed AND l.row_hash <=> n.old_head;
    OPEN c_archives;
    archives: LOOP
        FETCH c_archives INTO v_table;
        IF v_done THEN
            LEAVE archives;
        END IF;
        SET @ticketdb_sql = CONCAT(
            'UPDATE tmp_ticketdb_seal_new AS n INNER JOIN `', v_table, '` AS l ',
            'ON n.ticket_id = l.ticket_id AND n.old_seq = l.ticket_seq ',
            'SET n.confirmed = TRUE WHERE NOT n.confirmed AND l.row_hash <=> n.old_head'
        );
        PREPARE stmt_seal FROM @ticketdb_sql;
        EXECUTE stmt_seal;
        DEALLOCATE PREPARE stmt_seal;
    END LOOP;
    CLOSE c_archives;
    SET @ticketdb_sql = NULL;

    INSERT INTO audit_seal_tickets (ticket_id, seal_id, log_seq, log_head)
    SELECT
        ticket_id,
        v_seal,
        log_seq,
        log_head
    FROM tmp_ticketdb_seal_new
    WHERE confirmed;
    SET v_sealed = ROW_COUNT();
    SELECT COUNT(*) INTO v_refused
    FROM tmp_ticketdb_seal_new
    WHERE NOT confirmed;
    INSERT INTO audit_seal_archives (seal_id, table_name, rows_archived)
    SELECT
        v_seal,
        table_name,
        rows_archived
    FROM ticket_log_archives;

    CALL sp_audit_seal_digest(v_seal, v_digest, v_tickets, v_rows, v_archives);
    SET v_now = UTC_TIMESTAMP();
    SET v_by = SESSION_USER();
    SET v_hash = fn_audit_seal_hash(
        v_prev_hash, v_seal, v_now, v_by, v_tickets, v_rows, v_archives, v_digest
    );
    INSERT INTO audit_seals (
        seal_id, sealed_at, sealed_by, tickets, log_rows, archives, state_digest,
        prev_seal_hash, seal_hash
    ) VALUES (
        v_seal, v_now, v_by, v_tickets, v_rows, v_archives, v_digest, v_prev_hash, v_hash
    );
    COMMIT;
    DROP TEMPORARY TABLE tmp_ticketdb_seal_new;
    DROP TEMPORARY TABLE tmp_ticketdb_seal_last;

    SELECT
        v_seal AS seal_id,
        v_now AS sealed_at,
        v_tickets AS tickets,
        v_rows AS log_rows,
        v_archives AS archives,
        v_sealed AS tickets_sealed,
        v_refused AS tickets_refused,
        HEX(v_digest) AS state_digest,
        HEX(v_hash) AS seal_hash;
END$$

DELIMITER ;
