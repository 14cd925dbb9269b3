-- A tamper-evident audit trail. Every ticket_logs row carries row_hash: the
-- SHA-256 of the previous row's hash (the ticket's chain so far) and of the
-- row's own content. service_tickets.log_head holds the hash of the ticket's
-- last row. The flow trigger computes both while it holds the ticket's row
-- lock, so the chain costs no lock beyond the one the flow already takes.
-- Editing, removing or adding a row behind the triggers' back breaks the
-- chain at that row; sp_verify_audit_trail reports it, in the live table and
-- in every archive (ticket_logs_YYYYMM).
--
-- fn_ticket_log_hash is part of the data format, not code that evolves: every
-- stored hash depends on it, so it is created here, once, and is not a
-- repeatable file. A different hash would be a new function and a new
-- migration.
ALTER TABLE ticket_logs
    ADD COLUMN row_hash BINARY(32) NULL;

ALTER TABLE service_tickets
    ADD COLUMN log_head BINARY(32) NULL;

DROP FUNCTION IF EXISTS fn_ticket_log_hash;

CREATE FUNCTION fn_ticket_log_hash(
    in_prev_hash BINARY(32),
    in_ticket_id BIGINT UNSIGNED,
    in_action_type VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
    in_agent_id INT UNSIGNED,
    in_from_status VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
    in_to_status VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
    in_old_priority VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
    in_new_priority VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
    in_note VARCHAR(1000) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
    in_action_time DATETIME,
    in_actor_agent_id INT UNSIGNED,
    in_actor_login VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
)
RETURNS BINARY(32)
DETERMINISTIC
NO SQL
SQL SECURITY INVOKER
COMMENT '
Description
-----------
The hash of one ticket_logs row in its ticket''s chain: SHA-256 over the
previous row''s hash (NULL for the ticket''s first row) and every column the
row records, each QUOTE()d (NULL stays distinct from '''') and joined by
commas. The flow trigger stores it in row_hash; sp_verify_audit_trail
recomputes it. Part of the data format: never re-created with another body.

Parameters
-----------
in_prev_hash (BINARY(32)): row_hash of the ticket''s previous row, or NULL.
in_ticket_id .. in_actor_login: the row''s columns, as stored.

Example
-----------
SELECT HEX(fn_ticket_log_hash(NULL, 42, ''assign'', 7, ''pending'',
    ''in_progress'', NULL, NULL, NULL, ''2026-12-01 09:00:00'', NULL, ''app@%''));
'
    RETURN UNHEX(SHA2(CONCAT_WS(
        ',',
        QUOTE(HEX(in_prev_hash)),
        QUOTE(in_ticket_id),
        QUOTE(in_action_type),
        QUOTE(in_agent_id),
        QUOTE(in_from_status),
        QUOTE(in_to_status),
        QUOTE(in_old_priority),
        QUOTE(in_new_priority),
        QUOTE(in_note),
        QUOTE(in_action_time),
        QUOTE(in_actor_agent_id),
        QUOTE(in_actor_login)
    ), 256));

-- Chain the rows that exist already, ticket by ticket in log_id order: pass n
-- hashes every ticket's n-th row from the (n-1)-th row's hash. Done under a
-- write lock on both tables, so no row is written meanwhile; the append-only
-- guard on UPDATE is lifted for exactly that time and put back before the
-- lock ends (the same trigger as triggers/trg_ticket_logs_before_update.sql).
-- The procedure names the tables l and t: LOCK TABLES must name the aliases.
DROP PROCEDURE IF EXISTS ticketdb_v025_chain_existing_logs;

DELIMITER $$

CREATE PROCEDURE ticketdb_v025_chain_existing_logs ()
MODIFIES SQL DATA
SQL SECURITY INVOKER
COMMENT 'V025 only: chains the log rows that exist before the hash chain.'
BEGIN
    DECLARE v_pos INT UNSIGNED DEFAULT 1;
    DECLARE v_last INT UNSIGNED;

    DROP TEMPORARY TABLE IF EXISTS tmp_v025_rows;
    DROP TEMPORARY TABLE IF EXISTS tmp_v025_heads;
    CREATE TEMPORARY TABLE tmp_v025_rows (
        log_id BIGINT UNSIGNED NOT NULL,
        ticket_id BIGINT UNSIGNED NOT NULL,
        pos INT UNSIGNED NOT NULL,
        PRIMARY KEY (log_id),
        KEY ix_tmp_v025_rows_pos (pos)
    ) ENGINE = InnoDB;
    CREATE TEMPORARY TABLE tmp_v025_heads (
        ticket_id BIGINT UNSIGNED NOT NULL,
        row_hash BINARY(32) NOT NULL,
        PRIMARY KEY (ticket_id)
    ) ENGINE = InnoDB;

    INSERT INTO tmp_v025_rows (log_id, ticket_id, pos)
    SELECT
        log_id,
        ticket_id,
        ROW_NUMBER() OVER (PARTITION BY ticket_id ORDER BY log_id) AS pos
    FROM ticket_logs;
    SELECT COALESCE(MAX(pos), 0) INTO v_last FROM tmp_v025_rows;

    WHILE v_pos <= v_last DO
        UPDATE ticket_logs AS l
        INNER JOIN tmp_v025_rows AS r ON l.log_id = r.log_id -- noqa: LT02
        LEFT JOIN tmp_v025_heads AS h ON r.ticket_id = h.ticket_id -- noqa: LT02
        SET
            l.row_hash = fn_ticket_log_hash(
                h.row_hash, l.ticket_id, l.action_type, l.agent_id, l.from_status,
                l.to_status, l.old_priority, l.new_priority, l.note, l.action_time,
                l.actor_agent_id, l.actor_login
            )
        WHERE r.pos = v_pos;
        REPLACE INTO tmp_v025_heads (ticket_id, row_hash)
        SELECT
            l.ticket_id,
            l.row_hash
        FROM tmp_v025_rows AS r
        INNER JOIN ticket_logs AS l ON r.log_id = l.log_id
        WHERE r.pos = v_pos;
        SET v_pos = v_pos + 1;
    END WHILE;

    UPDATE service_tickets AS t
    INNER JOIN tmp_v025_heads AS h ON t.ticket_id = h.ticket_id -- noqa: LT02
    SET t.log_head = h.row_hash;

    DROP TEMPORARY TABLE tmp_v025_rows;
    DROP TEMPORARY TABLE tmp_v025_heads;
END$$

DELIMITER ;

-- The linter cannot parse LOCK TABLES; the server and the mysql client can.
LOCK TABLES ticket_logs WRITE, ticket_logs AS l WRITE, service_tickets WRITE, service_tickets AS t WRITE; -- noqa: PRS, LT05

DROP TRIGGER IF EXISTS trg_ticket_logs_before_update;

CALL ticketdb_v025_chain_existing_logs();

DELIMITER $$

CREATE TRIGGER trg_ticket_logs_before_update
BEFORE UPDATE ON ticket_logs
FOR EACH ROW
BEGIN
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    SET v_message = CONCAT(
        'ticketdb: ticket ', OLD.ticket_id, ': ticket_logs is append-only (log ',
        OLD.log_id, ' cannot be updated)'
    );
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
END$$

DELIMITER ;

UNLOCK TABLES;

DROP PROCEDURE ticketdb_v025_chain_existing_logs;
