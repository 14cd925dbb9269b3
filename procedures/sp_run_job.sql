DROP PROCEDURE IF EXISTS sp_run_job;

DELIMITER $$

CREATE PROCEDURE sp_run_job (
    IN in_job VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
)
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Runs one scheduled job once for its event (ev_<job>): the whole body of
every event is CALL sp_run_job(''<job>''). On a read-only server (a
replica) it does nothing and writes nothing. Otherwise it takes the job''s
lease for the current period of the event''s schedule (sp_job_lease_take:
runs never overlap, and on a cluster each period runs on one node only),
records the run in ticketdb_job_runs (''running''), runs the job, and
records its end: ''succeeded'' with rows_affected, or ''failed'' with the
error''s code and message, after rolling back the job''s own open
transaction; the error is then raised again (so the server''s error log
keeps it too). A run that finds the previous one still holding the lease
is recorded ''skipped''; a period already run elsewhere records nothing.
Runs of this job older than the setting job_run_retention_days are deleted.
Internal: no role may call it. Commits.

Jobs: escalate_priorities, generate_alerts, snapshot_urgent_tickets,
apply_retention, archive_ticket_logs (only when a month is due, as the
settings archive_live_months and archive_day_of_month say),
seal_audit_trail.

Parameters
-----------
in_job (VARCHAR(64)): the job, a row of ticketdb_job_leases.

Example
-----------
CALL sp_run_job(''generate_alerts'');
SELECT * FROM ticketdb_job_runs ORDER BY run_id DESC LIMIT 1;
'
BEGIN
    DECLARE v_holder VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
    DEFAULT fn_job_holder();
    DECLARE v_other VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_message VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_field VARCHAR(18) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_value VARCHAR(256) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_now DATETIME(6) DEFAULT fn_job_clock();
    DECLARE v_until DATETIME(6);
    DECLARE v_starts DATETIME;
    DECLARE v_slot DATETIME;
    DECLARE v_last DATETIME;
    DECLARE v_seconds BIGINT;
    DECLARE v_taken INT DEFAULT 0;
    DECLARE v_run BIGINT UNSIGNED;
    DECLARE v_mark BIGINT;
    DECLARE v_rows BIGINT;
    DECLARE v_code INT;
    DECLARE v_keep INT;
    DECLARE v_live INT;
    DECLARE v_day INT;
    DECLARE v_before DATE;

    job: BEGIN
        IF @@global.read_only <> 0 THEN
            LEAVE job;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM ticketdb_job_leases WHERE job = in_job) THEN
            SET v_message = CONCAT('ticketdb: sp_run_job: unknown job ', COALESCE(in_job, 'NULL'));
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
        END IF;

        -- The current period of the event's own schedule (its STARTS plus
        -- whole intervals): every node's event computes the same one.
        SELECT
            MAX(e.starts),
            MAX(e.interval_value),
            MAX(e.interval_field)
        INTO v_starts, v_value, v_field
        FROM information_schema.events AS e
        WHERE e.event_schema = DATABASE() AND e.event_name = CONCAT('ev_', in_job);
        SET v_seconds = CASE v_field
            WHEN 'SECOND' THEN CAST(v_value AS UNSIGNED)
            WHEN 'MINUTE' THEN CAST(v_value AS UNSIGNED) * 60
            WHEN 'HOUR' THEN CAST(v_value AS UNSIGNED) * 3600
            WHEN 'DAY' THEN CAST(v_value AS UNSIGNED) * 86400
            WHEN 'WEEK' THEN CAST(v_value AS UNSIGNED) * 604800
        END;
        IF v_seconds > 0 AND v_starts IS NOT NULL THEN
            SET v_slot = v_starts + INTERVAL (
                FLOOR(TIMESTAMPDIFF(SECOND, v_starts, v_now) / v_seconds) * v_seconds
            ) SECOND;
        END IF;

        CALL sp_job_lease_take(in_job, v_slot, v_taken);
        IF v_taken <> 1 THEN
            SELECT holder, lease_until, slot_start INTO v_other, v_until, v_last
            FROM ticketdb_job_leases
            WHERE job = in_job;
            -- Not taken because the previous run still holds it: say so. (A
            -- period another node already ran, or a lost race, is normal.)
            IF
                v_taken = 0 AND v_other IS NOT NULL AND v_until >= v_now
                AND (v_slot IS NULL OR v_last IS NULL OR v_last < v_slot)
            THEN
                INSERT INTO ticketdb_job_runs (
                    job, started_at, finished_at, outcome, error_message, node, holder
                ) VALUES (
                    in_job, v_now, v_now, 'skipped',
                    CONCAT(
                        'ticketdb: job ', in_job, ': the previous run (', v_other,
                        ') holds the lease until ', v_until, ' UTC'
                    ),
                    SUBSTRING_INDEX(v_holder, '#', 1), v_holder
                );
            END IF;
            LEAVE job;
        END IF;

        -- The lease was free: a run still marked running has died with its session.
        UPDATE ticketdb_job_runs
        SET
            outcome = 'interrupted',
            finished_at = v_now,
            error_message = CONCAT(
                'ticketdb: job ', in_job, ': the run ended without finishing ',
                '(its session was killed or its server stopped)'
            )
        WHERE job = in_job AND finished_at IS NULL;
        SELECT setting_value INTO v_keep
        FROM ticketdb_settings
        WHERE setting_name = 'job_run_retention_days';
        DELETE FROM ticketdb_job_runs
        WHERE job = in_job AND started_at < v_now - INTERVAL GREATEST(COALESCE(v_keep, 90), 1) DAY
        ORDER BY started_at
        LIMIT 1000;
        INSERT INTO ticketdb_job_runs (job, started_at, outcome, node, holder)
        VALUES (in_job, v_now, 'running', SUBSTRING_INDEX(v_holder, '#', 1), v_holder);
        SET v_run = LAST_INSERT_ID();

        BEGIN
            DECLARE EXIT HANDLER FOR SQLEXCEPTION
            BEGIN
                GET DIAGNOSTICS CONDITION 1 v_code = MYSQL_ERRNO, v_message = MESSAGE_TEXT;
                ROLLBACK;
                UPDATE ticketdb_job_runs
                SET
                    finished_at = fn_job_clock(),
                    outcome = 'failed',
                    error_code = v_code,
                    error_message = v_message
                WHERE run_id = v_run;
                CALL sp_job_lease_release(in_job);
                RESIGNAL;
            END;

            IF in_job = 'escalate_priorities' THEN
                SELECT COALESCE(MAX(log_id), 0) INTO v_mark FROM ticket_logs;
                CALL sp_escalate_priorities();
                SELECT COUNT(*) INTO v_rows
                FROM ticket_logs
                WHERE log_id > v_mark AND action_type = 'escalate';
            ELSEIF in_job = 'generate_alerts' THEN
                SELECT COALESCE(MAX(alert_id), 0) INTO v_mark FROM ticket_alerts;
                CALL sp_generate_alerts(60);
                SELECT COUNT(*) INTO v_rows FROM ticket_alerts WHERE alert_id > v_mark;
            ELSEIF in_job = 'snapshot_urgent_tickets' THEN
                CALL sp_snapshot_urgent_tickets(DATE(v_now));
                SELECT COUNT(*) INTO v_rows
                FROM daily_urgent_tickets
                WHERE snapshot_date = DATE(v_now);
            ELSEIF in_job = 'apply_retention' THEN
                SELECT COUNT(*) INTO v_mark FROM ticket_alerts;
                SELECT COUNT(*) + v_mark INTO v_mark FROM daily_urgent_tickets;
                CALL sp_apply_retention();
                SELECT v_mark - COUNT(*) INTO v_mark FROM ticket_alerts;
                SELECT v_mark - COUNT(*) INTO v_rows FROM daily_urgent_tickets;
            ELSEIF in_job = 'archive_ticket_logs' THEN
                SELECT setting_value INTO v_live
                FROM ticketdb_settings
                WHERE setting_name = 'archive_live_months';
                SELECT setting_value INTO v_day
                FROM ticketdb_settings
                WHERE setting_name = 'archive_day_of_month';
                SET v_before = DATE(v_now) - INTERVAL (COALESCE(v_live, 0) - 1) MONTH;
                SET v_rows = 0;
                IF
                    v_live > 0
                    AND DAYOFMONTH(v_now) >= LEAST(GREATEST(COALESCE(v_day, 1), 1), 28)
                    AND EXISTS (
                        SELECT 1 FROM ticket_logs
                        WHERE action_time < v_before - INTERVAL (DAYOFMONTH(v_before) - 1) DAY
                    )
                THEN
                    SELECT COALESCE(SUM(rows_archived), 0) INTO v_mark FROM ticket_log_archives;
                    CALL sp_archive_ticket_logs(v_before);
                    SELECT COALESCE(SUM(rows_archived), 0) - v_mark INTO v_rows
                    FROM ticket_log_archives;
                END IF;
            ELSEIF in_job = 'seal_audit_trail' THEN
                CALL sp_seal_audit_trail();
            ELSE
                SET v_message = CONCAT('ticketdb: sp_run_job: no code runs job ', in_job);
                SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
            END IF;
        END;

        UPDATE ticketdb_job_runs
        SET
            finished_at = fn_job_clock(),
            outcome = 'succeeded',
            rows_affected = v_rows
        WHERE run_id = v_run;
        CALL sp_job_lease_release(in_job);
    END job;
END$$

DELIMITER ;
