-- One order for the chain and its check: ticket_seq. V025 chained a ticket's
-- rows in the order they took the ticket's row lock but checked them in
-- log_id order, and the two differ under honest concurrency: a multi-row
-- INSERT reserves its AUTO_INCREMENT ids up front, so its row for a ticket
-- another agent is replying to takes that ticket's lock after the other
-- agent's newer rows. From here on the flow trigger numbers every row of a
-- ticket 1, 2, 3 ... under the ticket's row lock (ticket_logs.ticket_seq,
-- from the counter service_tickets.log_seq), hashes the number with the row
-- (fn_ticket_log_hash_seq), and sp_verify_audit_trail follows ticket_seq.
-- A gap in the numbers is a removed row; UNIQUE (ticket_id, ticket_seq)
-- refuses a second row with a number.
--
-- The rows that exist keep their V025 hashes (fn_ticket_log_hash, without
-- the number): service_tickets.log_seq_v025 says how many of a ticket's
-- first rows are hashed that way. They are numbered in the order their
-- hashes chain them, the order the flow really wrote them, not in log_id
-- order (which would freeze today's false reports): a ticket whose rows
-- chain in log_id order up to its head is numbered so at once; the others
-- are followed hash by hash from the start; rows no hash leads to (edited
-- or added behind the triggers' back) are numbered after, in log_id order,
-- and stay reported. Archived rows (ticket_logs_YYYYMM) get the column and
-- the key as well, so that every archive keeps ticket_logs' shape, and their
-- numbers. The live rows are numbered under a write lock on both tables,
-- with the append-only guard lifted for exactly that time, as V025 did; the
-- archives are only written by sp_archive_ticket_logs, which the deployer's
-- lock keeps out while up runs.
ALTER TABLE ticket_logs
    ADD COLUMN ticket_seq INT UNSIGNED NULL,
    ADD UNIQUE KEY uq_ticket_logs_ticket_seq (ticket_id, ticket_seq);

ALTER TABLE service_tickets
    ADD COLUMN log_seq INT UNSIGNED NOT NULL DEFAULT 0,
    ADD COLUMN log_seq_v025 INT UNSIGNED NOT NULL DEFAULT 0;

DROP FUNCTION IF EXISTS fn_ticket_log_hash_seq;

CREATE FUNCTION fn_ticket_log_hash_seq(
    in_prev_hash BINARY(32),
    in_ticket_seq INT UNSIGNED,
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
The hash of one ticket_logs row numbered by the flow (V030): SHA-256 over
the text ''seq'', the previous row''s hash (NULL for the ticket''s first
row), the row''s ticket_seq and every column the row records, each QUOTE()d
and joined by commas. The flow trigger stores it in row_hash for every row
after a ticket''s first log_seq_v025 rows (those keep fn_ticket_log_hash);
sp_verify_audit_trail recomputes it. Part of the data format: never
re-created with another body.

Parameters
-----------
in_prev_hash (BINARY(32)): row_hash of the row with ticket_seq - 1, or NULL.
in_ticket_seq (INT UNSIGNED): the row''s number within its ticket.
in_ticket_id .. in_actor_login: the row''s columns, as stored.

Example
-----------
SELECT HEX(fn_ticket_log_hash_seq(NULL, 1, 42, ''assign'', 7, ''pending'',
    ''in_progress'', NULL, NULL, NULL, ''2026-12-01 09:00:00'', NULL, ''app@%''));
'
    RETURN UNHEX(SHA2(CONCAT_WS(
        ',',
        QUOTE('seq'),
        QUOTE(HEX(in_prev_hash)),
        QUOTE(in_ticket_seq),
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

-- Every archive gets the column and the key (before the lock: LOCK TABLES
-- cannot name tables found at run time), and its rows are read into
-- ticketdb_v030_rows, which the numbering below fills with the live rows.
-- The scratch tables (ticketdb_v030_rows, _heads, _next) are real tables,
-- not temporary ones, and each step starts from what the one before left:
-- an up killed inside the LOCK region resumes at the LOCK in a new session,
-- which a temporary table would not survive. They are dropped at the end.
DROP PROCEDURE IF EXISTS ticketdb_v030_read_archives;
DROP PROCEDURE IF EXISTS ticketdb_v030_number_rows;
DROP PROCEDURE IF EXISTS ticketdb_v030_number_archives;

DELIMITER $$

CREATE PROCEDURE ticketdb_v030_read_archives ()
MODIFIES SQL DATA
SQL SECURITY INVOKER
COMMENT 'V030 only: gives every archive ticket_seq and reads its rows.'
BEGIN
    DECLARE v_done BOOLEAN DEFAULT FALSE;
    DECLARE v_table VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE c_archives CURSOR FOR
        SELECT a.table_name
        FROM ticket_log_archives AS a
        INNER JOIN information_schema.tables AS i
            ON
                i.table_schema = DATABASE()
                AND a.table_name = i.table_name
        ORDER BY a.archive_month;
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = TRUE;

    DROP TABLE IF EXISTS ticketdb_v030_rows;
    DROP TABLE IF EXISTS ticketdb_v030_heads;
    DROP TABLE IF EXISTS ticketdb_v030_next;
    CREATE TABLE ticketdb_v030_rows (
        log_id BIGINT UNSIGNED NOT NULL,
        source_table VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
        ticket_id BIGINT UNSIGNED NOT NULL,
        action_type VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
        agent_id INT UNSIGNED NULL,
        from_status VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL,
        to_status VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL,
        old_priority VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL,
        new_priority VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL,
        note VARCHAR(1000) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL,
        action_time DATETIME NOT NULL,
        actor_agent_id INT UNSIGNED NULL,
        actor_login VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NULL,
        row_hash BINARY(32) NULL,
        pos INT UNSIGNED NULL,
        PRIMARY KEY (log_id, source_table),
        KEY ix_ticketdb_v030_rows_ticket (ticket_id, pos)
    ) ENGINE = InnoDB;
    CREATE TABLE ticketdb_v030_heads (
        ticket_id BIGINT UNSIGNED NOT NULL,
        head BINARY(32) NULL,
        pos INT UNSIGNED NOT NULL DEFAULT 0,
        following BOOLEAN NOT NULL DEFAULT TRUE,
        PRIMARY KEY (ticket_id)
    ) ENGINE = InnoDB;
    CREATE TABLE ticketdb_v030_next (
        log_id BIGINT UNSIGNED NOT NULL,
        source_table VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
        ticket_id BIGINT UNSIGNED NOT NULL,
        pos INT UNSIGNED NULL,
        in_chain BOOLEAN NULL,
        is_last BOOLEAN NULL,
        PRIMARY KEY (log_id, source_table),
        KEY ix_ticketdb_v030_next_ticket (ticket_id)
    ) ENGINE = InnoDB;

    OPEN c_archives;
    archives: LOOP
        FETCH c_archives INTO v_table;
        IF v_done THEN
            LEAVE archives;
        END IF;
        IF NOT EXISTS (
            SELECT 1 FROM information_schema.columns AS c
            WHERE
                c.table_schema = DATABASE()
                AND c.table_name = v_table
                AND c.column_name = 'ticket_seq'
        ) THEN
            SET @ticketdb_sql = CONCAT(
                'ALTER TABLE `', v_table, '` ADD COLUMN ticket_seq INT UNSIGNED NULL, ',
                'ADD UNIQUE KEY uq_ticket_logs_ticket_seq (ticket_id, ticket_seq)'
            );
            PREPARE stmt_v030 FROM @ticketdb_sql;
            EXECUTE stmt_v030;
            DEALLOCATE PREPARE stmt_v030;
        END IF;
        SET @ticketdb_sql = CONCAT(
            'INSERT INTO ticketdb_v030_rows (log_id, source_table, ticket_id, action_type, ',
            'agent_id, from_status, to_status, old_priority, new_priority, note, ',
            'action_time, actor_agent_id, actor_login, row_hash) SELECT log_id, ''',
            v_table, ''', ticket_id, action_type, agent_id, from_status, to_status, ',
            'old_priority, new_priority, note, action_time, actor_agent_id, actor_login, ',
            'row_hash FROM `', v_table, '`'
        );
        PREPARE stmt_v030 FROM @ticketdb_sql;
        EXECUTE stmt_v030;
        DEALLOCATE PREPARE stmt_v030;
    END LOOP;
    CLOSE c_archives;
    SET @ticketdb_sql = NULL;
END$$

-- Under the write lock: the live rows join the archived ones, and every
-- ticket's rows are numbered in the order their hashes chain them. The
-- procedure names the tables l and t: LOCK TABLES must name the aliases.
CREATE PROCEDURE ticketdb_v030_number_rows ()
MODIFIES SQL DATA
SQL SECURITY INVOKER
COMMENT 'V030 only: numbers the log rows that exist, in their chain order.'
BEGIN
    DECLARE v_found INT DEFAULT 1;

    -- A run resumed at the LOCK after an interruption starts again from what
    -- ticketdb_v030_read_archives left (the archived rows, unnumbered).
    DELETE FROM ticketdb_v030_rows
    WHERE source_table = 'ticket_logs';
    UPDATE ticketdb_v030_rows SET pos = NULL;
    DELETE FROM ticketdb_v030_heads;
    DELETE FROM ticketdb_v030_next;

    INSERT INTO ticketdb_v030_rows (
        log_id, source_table, ticket_id, action_type, agent_id, from_status,
        to_status, old_priority, new_priority, note, action_time, actor_agent_id,
        actor_login, row_hash
    )
    SELECT
        l.log_id,
        'ticket_logs' AS source_table,
        l.ticket_id,
        l.action_type,
        l.agent_id,
        l.from_status,
        l.to_status,
        l.old_priority,
        l.new_priority,
        l.note,
        l.action_time,
        l.actor_agent_id,
        l.actor_login,
        l.row_hash
    FROM ticket_logs AS l;

    -- The common case, set-based: the rows chain in log_id order (each
    -- row's hash is the one from its log_id predecessor) up to the head.
    INSERT INTO ticketdb_v030_next (log_id, source_table, ticket_id, pos, in_chain, is_last)
    SELECT
        r.log_id,
        r.source_table,
        r.ticket_id,
        ROW_NUMBER() OVER w AS pos,
        r.row_hash IS NOT NULL AND r.row_hash = fn_ticket_log_hash(
            LAG(r.row_hash) OVER w, r.ticket_id, r.action_type, r.agent_id,
            r.from_status, r.to_status, r.old_priority, r.new_priority, r.note,
            r.action_time, r.actor_agent_id, r.actor_login
        ) AS in_chain,
        LEAD(r.log_id) OVER w IS NULL AS is_last
    FROM ticketdb_v030_rows AS r
    WINDOW w AS (PARTITION BY r.ticket_id ORDER BY r.log_id);
    INSERT INTO ticketdb_v030_heads (ticket_id, pos, following)
    SELECT
        n.ticket_id,
        COUNT(*) AS pos,
        SUM(n.in_chain) < COUNT(*)
        OR COALESCE(SUM(n.is_last AND r.row_hash = t.log_head), 0) <> 1 AS following
    FROM ticketdb_v030_next AS n
    INNER JOIN ticketdb_v030_rows AS r -- noqa: LT02
        ON n.log_id = r.log_id AND n.source_table = r.source_table
    LEFT JOIN service_tickets AS t ON n.ticket_id = t.ticket_id
    GROUP BY n.ticket_id;
    UPDATE ticketdb_v030_rows AS r
    INNER JOIN ticketdb_v030_next AS n -- noqa: LT02
            ON r.log_id = n.log_id AND r.source_table = n.source_table
    INNER JOIN ticketdb_v030_heads AS h ON r.ticket_id = h.ticket_id -- noqa: LT02
    SET r.pos = n.pos
    WHERE NOT h.following;
    DELETE FROM ticketdb_v030_next;
    UPDATE ticketdb_v030_heads
    SET pos = 0
    WHERE following;

    -- The others, hash by hash: each pass finds, for every ticket still
    -- followed, the unnumbered row whose hash continues the chain.
    WHILE v_found > 0 DO
        INSERT INTO ticketdb_v030_next (log_id, source_table, ticket_id)
        SELECT
            MIN(r.log_id) AS log_id,
            MIN(r.source_table) AS source_table,
            r.ticket_id
        FROM ticketdb_v030_heads AS h
        INNER JOIN ticketdb_v030_rows AS r ON h.ticket_id = r.ticket_id -- noqa: LT02
        WHERE
            h.following
            AND r.pos IS NULL
            AND r.row_hash = fn_ticket_log_hash(
                h.head, r.ticket_id, r.action_type, r.agent_id, r.from_status,
                r.to_status, r.old_priority, r.new_priority, r.note, r.action_time,
                r.actor_agent_id, r.actor_login
            )
        GROUP BY r.ticket_id;
        SET v_found = ROW_COUNT();
        UPDATE ticketdb_v030_heads AS h
        LEFT JOIN ticketdb_v030_next AS n ON h.ticket_id = n.ticket_id -- noqa: LT02
        LEFT JOIN ticketdb_v030_rows AS r -- noqa: LT02
                    ON n.log_id = r.log_id AND n.source_table = r.source_table
        SET
            h.following = n.log_id IS NOT NULL,
            h.pos = h.pos + (n.log_id IS NOT NULL),
            h.head = COALESCE(r.row_hash, h.head)
        WHERE h.following;
        UPDATE ticketdb_v030_rows AS r
        INNER JOIN ticketdb_v030_next AS n -- noqa: LT02
                ON r.log_id = n.log_id AND r.source_table = n.source_table
        INNER JOIN ticketdb_v030_heads AS h ON n.ticket_id = h.ticket_id -- noqa: LT02
        SET r.pos = h.pos;
        DELETE FROM ticketdb_v030_next;
    END WHILE;

    -- Rows no hash leads to: after the chain, in log_id order (reported).
    INSERT INTO ticketdb_v030_next (log_id, source_table, ticket_id, pos)
    SELECT
        r.log_id,
        r.source_table,
        r.ticket_id,
        ROW_NUMBER() OVER (PARTITION BY r.ticket_id ORDER BY r.log_id) AS pos
    FROM ticketdb_v030_rows AS r
    WHERE r.pos IS NULL;
    UPDATE ticketdb_v030_rows AS r
    INNER JOIN ticketdb_v030_next AS n -- noqa: LT02
            ON r.log_id = n.log_id AND r.source_table = n.source_table
    INNER JOIN ticketdb_v030_heads AS h ON n.ticket_id = h.ticket_id -- noqa: LT02
    SET r.pos = h.pos + n.pos;
    DELETE FROM ticketdb_v030_next;

    UPDATE ticket_logs AS l
    INNER JOIN ticketdb_v030_rows AS r ON l.log_id = r.log_id -- noqa: LT02
    SET l.ticket_seq = r.pos
    WHERE r.source_table = 'ticket_logs';
    -- Each ticket's count: its last number (one row per ticket in ticketdb_v030_next).
    INSERT INTO ticketdb_v030_next (log_id, source_table, ticket_id, pos)
    SELECT
        MIN(log_id) AS log_id,
        'count' AS source_table,
        ticket_id,
        MAX(pos) AS pos
    FROM ticketdb_v030_rows
    GROUP BY ticket_id;
    UPDATE service_tickets AS t
    INNER JOIN ticketdb_v030_next AS n ON t.ticket_id = n.ticket_id -- noqa: LT02
    SET
        t.log_seq = n.pos,
        t.log_seq_v025 = n.pos;
END$$

-- After the lock: the archived rows take their numbers.
CREATE PROCEDURE ticketdb_v030_number_archives ()
MODIFIES SQL DATA
SQL SECURITY INVOKER
COMMENT 'V030 only: writes the numbers of the archived log rows.'
BEGIN
    DECLARE v_done BOOLEAN DEFAULT FALSE;
    DECLARE v_table VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE c_tables CURSOR FOR
        SELECT DISTINCT r.source_table
        FROM ticketdb_v030_rows AS r
        WHERE r.source_table <> 'ticket_logs';
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = TRUE;

    OPEN c_tables;
    archives: LOOP
        FETCH c_tables INTO v_table;
        IF v_done THEN
            LEAVE archives;
        END IF;
        SET @ticketdb_sql = CONCAT(
            'UPDATE `', v_table, '` AS a INNER JOIN ticketdb_v030_rows AS r ',
            'ON a.log_id = r.log_id AND r.source_table = ''', v_table, ''' ',
            'SET a.ticket_seq = r.pos'
        );
        PREPARE stmt_v030 FROM @ticketdb_sql;
        EXECUTE stmt_v030;
        DEALLOCATE PREPARE stmt_v030;
    END LOOP;
    CLOSE c_tables;
    SET @ticketdb_sql = NULL;
END$$

DELIMITER ;

CALL ticketdb_v030_read_archives();

-- The linter cannot parse LOCK TABLES; the server and the mysql client can.
LOCK TABLES ticket_logs WRITE, ticket_logs AS l WRITE, service_tickets WRITE, service_tickets AS t WRITE, ticketdb_v030_rows WRITE, ticketdb_v030_rows AS r WRITE, ticketdb_v030_heads WRITE, ticketdb_v030_heads AS h WRITE, ticketdb_v030_next WRITE, ticketdb_v030_next AS n WRITE; -- noqa: PRS, LT05

DROP TRIGGER IF EXISTS trg_ticket_logs_before_update;

CALL ticketdb_v030_number_rows();

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

CALL ticketdb_v030_number_archives();

DROP PROCEDURE ticketdb_v030_read_archives;
DROP PROCEDURE ticketdb_v030_number_rows;
DROP PROCEDURE ticketdb_v030_number_archives;
DROP TABLE IF EXISTS ticketdb_v030_rows;
DROP TABLE IF EXISTS ticketdb_v030_heads;
DROP TABLE IF EXISTS ticketdb_v030_next;
