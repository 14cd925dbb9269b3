DROP PROCEDURE IF EXISTS sp_archive_ticket_logs;

DELIMITER $$

CREATE PROCEDURE sp_archive_ticket_logs (
    IN in_before DATE
)
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Moves every ticket_logs row whose action_time is before the first day of
in_before''s month into the archive of its month, ticket_logs_YYYYMM (made
with CREATE TABLE ... LIKE ticket_logs when missing, and listed in
ticket_log_archives). Months move oldest first, each in batches of at most
archive_batch_rows log_ids walked up its primary-key range: each batch
copies its rows with one INSERT ... SELECT and deletes them from
ticket_logs with one DELETE of the same range, in one transaction
(REPEATABLE READ, so no other row can enter the range between the two), so
a run that is killed, or a server that dies, leaves every row in exactly
one table, and the next run goes on. The rows keep their log_id and hash. Refuses a month later than the
current one (UTC), an archive whose columns differ from ticket_logs, and a
second run while one is going (the lease of job archive_ticket_logs in
ticketdb_job_leases, which it takes or, run by sp_run_job, already holds, and
renews every few seconds; a run that lost it stops). Returns one row per archive it moved rows
into: table_name, rows_moved. A batch job: it runs its own transactions and commits, and refuses to run inside a caller''s open transaction. Run
monthly by ev_archive_ticket_logs. Uses the session variables @ticketdb_sql,
@ticketdb_lo and @ticketdb_hi (set just before the statement that reads them).

Parameters
-----------
in_before (DATE): rows before the first day of this date''s month move.

Example
-----------
CALL sp_archive_ticket_logs(''2026-01-01'');
'
BEGIN
    DECLARE v_cutoff DATE;
    DECLARE v_month DATE;
    DECLARE v_next DATE;
    DECLARE v_lo BIGINT UNSIGNED;
    DECLARE v_hi BIGINT UNSIGNED;
    DECLARE v_last BIGINT UNSIGNED;
    DECLARE v_oldest DATETIME;
    DECLARE v_batch INT;
    DECLARE v_rows INT;
    DECLARE v_deleted INT;
    DECLARE v_table VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_outer BOOLEAN DEFAULT FALSE;
    -- One run at a time: the job's lease (sp_job_lease_take), renewed as it goes.
    DECLARE v_lease INT DEFAULT 0;
    DECLARE v_renewed INT DEFAULT 0;
    DECLARE v_renew_at DATETIME(6);

    CALL sp_caller_transaction_open(v_outer);
    IF v_outer THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_archive_ticket_logs commits: call it outside a transaction';
    END IF;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_archive_ticket_logs');

    IF in_before IS NULL THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ticketdb: sp_archive_ticket_logs: in_before is required';
    END IF;
    SET v_cutoff = in_before - INTERVAL (DAYOFMONTH(in_before) - 1) DAY;
    IF v_cutoff > UTC_DATE() - INTERVAL (DAYOFMONTH(UTC_DATE()) - 1) DAY THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_archive_ticket_logs: in_before is after the current month (UTC)';
    END IF;
    SELECT setting_value INTO v_batch
    FROM ticketdb_settings
    WHERE setting_name = 'archive_batch_rows';
    SET v_batch = LEAST(GREATEST(COALESCE(v_batch, 5000), 100), 100000);
    CALL sp_job_lease_take('archive_ticket_logs', NULL, v_lease);
    IF v_lease <= 0 THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_archive_ticket_logs: another archive run is in progress';
    END IF;
    SET v_renew_at = fn_job_clock() + INTERVAL 5 SECOND;

    DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_archive_moved;
    CREATE TEMPORARY TABLE tmp_ticketdb_archive_moved (
        table_name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
        rows_moved BIGINT UNSIGNED NOT NULL DEFAULT 0,
        PRIMARY KEY (table_name)
    ) ENGINE = InnoDB;

    BEGIN
        DECLARE EXIT HANDLER FOR SQLEXCEPTION
        BEGIN
            ROLLBACK;
            IF v_lease = 1 THEN
                CALL sp_job_lease_release('archive_ticket_logs');
            END IF;
            DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_archive_moved;
            RESIGNAL;
        END;

        months: LOOP
            SELECT MIN(action_time) INTO v_oldest
            FROM ticket_logs
            WHERE action_time < v_cutoff;
            IF v_oldest IS NULL THEN
                LEAVE months;
            END IF;
            SET v_month = DATE(v_oldest) - INTERVAL (DAYOFMONTH(v_oldest) - 1) DAY;
            SET v_next = v_month + INTERVAL 1 MONTH;
            SET v_table = CONCAT('ticket_logs_', DATE_FORMAT(v_month, '%Y%m'));

            -- DDL commits: the archive exists (empty) before any row moves.
            SET @ticketdb_sql = CONCAT(
                'CREATE TABLE IF NOT EXISTS `', v_table, '` LIKE ticket_logs'
            );
            PREPARE stmt_archive FROM @ticketdb_sql;
            EXECUTE stmt_archive;
            DEALLOCATE PREPARE stmt_archive;
            INSERT IGNORE INTO ticket_log_archives (archive_month, table_name)
            VALUES (v_month, v_table);
            IF EXISTS (
                SELECT 1
                FROM information_schema.columns AS c
                WHERE
                    c.table_schema = DATABASE()
                    AND c.table_name IN ('ticket_logs', v_table)
                GROUP BY c.column_name, c.ordinal_position, c.column_type, c.is_nullable
                HAVING COUNT(*) <> 2
            ) THEN
                SET v_message = CONCAT(
                    'ticketdb: sp_archive_ticket_logs: ', v_table,
                    ' has other columns than ticket_logs; alter it to match first'
                );
                SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
            END IF;

            -- A batch is a range of primary keys, [v_lo, v_hi], of at most
            -- archive_batch_rows ids, walked upwards from the month's first
            -- log_id to its last (log_id follows time closely: a month is
            -- one stretch of ids, and rows of other months in it are
            -- skipped); each batch starts at the next row of the month
            -- after the last batch, and rows before it are gone, so nothing
            -- is read twice however far the run is. One INSERT ... SELECT
            -- copies the batch, one DELETE by the same range removes it.
            -- Both run at REPEATABLE READ: the copy's shared next-key locks
            -- keep any other row out of the range until the commit, so the
            -- DELETE removes exactly the rows copied (and the counts are
            -- compared). New rows get higher ids and are not blocked.
            SET @ticketdb_sql = CONCAT(
                'INSERT INTO `', v_table, '` SELECT * FROM ticket_logs ',
                'WHERE log_id BETWEEN ? AND ? AND action_time >= ''', v_month,
                ''' AND action_time < ''', v_next, ''''
            );
            PREPARE stmt_archive FROM @ticketdb_sql;
            SET @ticketdb_sql = NULL;
            SELECT
                MIN(log_id) AS first_id,
                MAX(log_id) AS last_id
            INTO v_lo, v_last
            FROM ticket_logs
            WHERE action_time >= v_month AND action_time < v_next;
            batches: LOOP
                SET v_hi = LEAST(v_lo + v_batch - 1, v_last);
                SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;
                START TRANSACTION;
                -- The mark that lets trg_ticket_logs_before_delete take this
                -- transaction's deletes (ticket 0: the archive).
                INSERT INTO ticketdb_flow_marks (node_key, connection_id, ticket_id)
                VALUES (CRC32(CONCAT(@@hostname, ':', @@port)), CONNECTION_ID(), 0)
                ON DUPLICATE KEY UPDATE ticket_id = 0;
                -- MySQL takes only user variables after USING: set here, for
                -- this statement alone.
                SET @ticketdb_lo = v_lo, @ticketdb_hi = v_hi;
                EXECUTE stmt_archive USING @ticketdb_lo, @ticketdb_hi;
                SET v_rows = ROW_COUNT();
                SET @ticketdb_lo = NULL, @ticketdb_hi = NULL;
                DELETE FROM ticket_logs
                WHERE
                    log_id BETWEEN v_lo AND v_hi
                    AND action_time >= v_month
                    AND action_time < v_next;
                SET v_deleted = ROW_COUNT();
                IF v_deleted <> v_rows THEN
                    SET v_message = CONCAT(
                        'ticketdb: sp_archive_ticket_logs: copied ', v_rows,
                        ' rows to ', v_table, ' but deleted ', v_deleted
                    );
                    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
                END IF;
                IF v_rows > 0 THEN
                    UPDATE ticket_log_archives
                    SET
                        rows_archived = rows_archived + v_rows,
                        last_archived_at = UTC_TIMESTAMP()
                    WHERE archive_month = v_month;
                END IF;
                DELETE FROM ticketdb_flow_marks
                WHERE
                    node_key = CRC32(CONCAT(@@hostname, ':', @@port))
                    AND connection_id = CONNECTION_ID();
                COMMIT;
                INSERT INTO tmp_ticketdb_archive_moved (table_name, rows_moved)
                VALUES (v_table, v_rows)
                ON DUPLICATE KEY UPDATE rows_moved = rows_moved + v_rows;
                IF v_hi >= v_last THEN
                    LEAVE batches;
                END IF;
                -- The month's next row (the rows up to v_hi are gone).
                SET v_lo = NULL;
                SELECT log_id INTO v_lo
                FROM ticket_logs
                WHERE
                    log_id > v_hi
                    AND log_id <= v_last
                    AND action_time >= v_month
                    AND action_time < v_next
                ORDER BY log_id
                LIMIT 1;
                IF v_lo IS NULL THEN
                    LEAVE batches;
                END IF;
                IF fn_job_clock() > v_renew_at THEN
                    CALL sp_job_lease_take('archive_ticket_logs', NULL, v_renewed);
                    IF v_renewed <= 0 THEN
                        SIGNAL SQLSTATE '45000'
                            SET MESSAGE_TEXT
                            = 'ticketdb: sp_archive_ticket_logs: lost its lease; stopped';
                    END IF;
                    SET v_renew_at = fn_job_clock() + INTERVAL 5 SECOND;
                END IF;
            END LOOP;
            DEALLOCATE PREPARE stmt_archive;
        END LOOP;
    END;

    IF v_lease = 1 THEN
        CALL sp_job_lease_release('archive_ticket_logs');
    END IF;
    SELECT
        table_name,
        rows_moved
    FROM tmp_ticketdb_archive_moved
    ORDER BY table_name;
    DROP TEMPORARY TABLE tmp_ticketdb_archive_moved;
END$$

DELIMITER ;
