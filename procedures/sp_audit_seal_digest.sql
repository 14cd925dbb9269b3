DROP PROCEDURE IF EXISTS sp_audit_seal_digest;

DELIMITER $$

CREATE PROCEDURE sp_audit_seal_digest (
    IN in_seal_id BIGINT UNSIGNED,
    OUT out_digest BINARY(32),
    OUT out_tickets BIGINT UNSIGNED,
    OUT out_log_rows BIGINT UNSIGNED,
    OUT out_archives INT UNSIGNED
)
READS SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
The digest of the audit trail''s state as seal in_seal_id sealed it,
recomputed from audit_seal_tickets and audit_seal_archives (V031): every
ticket''s latest entry up to that seal, as "ticket_id:log_seq:HEX(log_head)"
(''-'' for no head), joined in ticket_id order per chunk of 1,000 ticket ids
and hashed (SHA-256) per chunk; the chunks'' "chunk:HEX(digest)" joined in
order, then "table_name:rows_archived" of every archive the seal recorded:
out_digest = SHA2(''tickets='' chunks '';archives='' archives). Set-based:
one ordered GROUP_CONCAT per chunk (at most 1,000 entries, about 100 KB),
with group_concat_max_len raised for the call and put back, and a refusal
if any text came out shorter than its parts (truncated). sp_seal_audit_trail
stores the digest in audit_seals.state_digest; sp_verify_audit_trail
recomputes it. out_tickets, out_log_rows, out_archives: the sealed counts.
Uses the temporary table tmp_ticketdb_seal_chunks.

Parameters
-----------
in_seal_id (BIGINT UNSIGNED): the seal.
out_digest (BINARY(32)), out_tickets, out_log_rows, out_archives: the result.

Example
-----------
CALL sp_audit_seal_digest(7, @digest, @tickets, @log_rows, @archives);
SELECT HEX(@digest), @tickets, @log_rows, @archives;
'
BEGIN
    DECLARE v_max_len BIGINT UNSIGNED DEFAULT @@SESSION.group_concat_max_len;
    DECLARE v_chunks LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_archives LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_expected BIGINT UNSIGNED;
    DECLARE v_short INT;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        SET SESSION group_concat_max_len = v_max_len;
        DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_seal_chunks;
        RESIGNAL;
    END;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_audit_seal_digest');

    SET SESSION group_concat_max_len = 67108864;
    DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_seal_chunks;
    CREATE TEMPORARY TABLE tmp_ticketdb_seal_chunks (
        chunk BIGINT UNSIGNED NOT NULL,
        entries BIGINT UNSIGNED NOT NULL,
        log_rows BIGINT UNSIGNED NOT NULL,
        text_length BIGINT UNSIGNED NOT NULL,
        expected_length BIGINT UNSIGNED NOT NULL,
        digest BINARY(32) NOT NULL,
        PRIMARY KEY (chunk)
    ) ENGINE = InnoDB;

    INSERT INTO tmp_ticketdb_seal_chunks (
        chunk, entries, log_rows, text_length, expected_length, digest
    )
    SELECT
        d.chunk,
        d.entries,
        d.log_rows,
        LENGTH(d.entry_text) AS text_length,
        d.expected_length,
        UNHEX(SHA2(d.entry_text, 256)) AS digest
    FROM (
        SELECT
            e.ticket_id DIV 1000 AS chunk,
            COUNT(*) AS entries,
            SUM(e.log_seq) AS log_rows,
            GROUP_CONCAT(
                CONCAT(e.ticket_id, ':', e.log_seq, ':', COALESCE(HEX(e.log_head), '-'))
                ORDER BY e.ticket_id SEPARATOR ','
            ) AS entry_text,
            SUM(LENGTH(
                CONCAT(e.ticket_id, ':', e.log_seq, ':', COALESCE(HEX(e.log_head), '-'))
            )) + COUNT(*) - 1 AS expected_length
        FROM audit_seal_tickets AS e
        INNER JOIN (
            SELECT
                ticket_id,
                MAX(seal_id) AS seal_id
            FROM audit_seal_tickets
            WHERE seal_id <= in_seal_id
            GROUP BY ticket_id
        ) AS m ON e.ticket_id = m.ticket_id AND e.seal_id = m.seal_id
        GROUP BY e.ticket_id DIV 1000
    ) AS d;
    SELECT COUNT(*) INTO v_short
    FROM tmp_ticketdb_seal_chunks
    WHERE text_length <> expected_length;
    IF v_short > 0 THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_audit_seal_digest: a chunk was truncated (group_concat_max_len)';
    END IF;

    SELECT
        COALESCE(SUM(entries), 0) AS tickets,
        COALESCE(SUM(log_rows), 0) AS log_rows,
        GROUP_CONCAT(CONCAT(chunk, ':', HEX(digest)) ORDER BY chunk SEPARATOR ',') AS chunk_text,
        SUM(LENGTH(CONCAT(chunk, ':', HEX(digest)))) + COUNT(*) - 1 AS expected_length
    INTO out_tickets, out_log_rows, v_chunks, v_expected
    FROM tmp_ticketdb_seal_chunks;
    IF NOT (LENGTH(v_chunks) <=> v_expected) THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_audit_seal_digest: the chunk list was truncated (group_concat_max_len)';
    END IF;
    SELECT
        COUNT(*) AS archives,
        GROUP_CONCAT(
            CONCAT(table_name, ':', rows_archived) ORDER BY table_name SEPARATOR ','
        ) AS archive_text
    INTO out_archives, v_archives
    FROM audit_seal_archives
    WHERE seal_id = in_seal_id;

    SET out_digest = UNHEX(SHA2(CONCAT(
        'tickets=', COALESCE(v_chunks, ''), ';archives=', COALESCE(v_archives, '')
    ), 256));
    DROP TEMPORARY TABLE tmp_ticketdb_seal_chunks;
    SET SESSION group_concat_max_len = v_max_len;
END$$

DELIMITER ;
