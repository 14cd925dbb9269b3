DROP PROCEDURE IF EXISTS sp_apply_retention;

DELIMITER $$

CREATE PROCEDURE sp_apply_retention ()
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Deletes ticket_alerts rows older than the setting alert_retention_days and
daily_urgent_tickets snapshots older than urgent_snapshot_retention_days
(table ticketdb_settings), in batches of 5,000 rows, each its own short
transaction at READ COMMITTED, so other work is never held up for long.
Returns one row: alerts_deleted, snapshot_rows_deleted. A batch job: it runs its own
transactions and commits, and refuses to run inside a caller''s open transaction. Run daily by ev_apply_retention.

Parameters
-----------
None.

Example
-----------
UPDATE ticketdb_settings SET setting_value = 30
WHERE setting_name = ''alert_retention_days'';
CALL sp_apply_retention();
'
BEGIN
    DECLARE v_now DATETIME DEFAULT UTC_TIMESTAMP();
    DECLARE v_alert_days INT;
    DECLARE v_snapshot_days INT;
    DECLARE v_rows INT DEFAULT 0;
    DECLARE v_alerts INT DEFAULT 0;
    DECLARE v_snapshots INT DEFAULT 0;
    DECLARE v_outer BOOLEAN DEFAULT FALSE;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_apply_retention');

    SELECT setting_value INTO v_alert_days
    FROM ticketdb_settings
    WHERE setting_name = 'alert_retention_days';
    SELECT setting_value INTO v_snapshot_days
    FROM ticketdb_settings
    WHERE setting_name = 'urgent_snapshot_retention_days';
    IF v_alert_days IS NULL OR v_snapshot_days IS NULL THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_apply_retention: a retention setting is missing from ticketdb_settings';
    END IF;

    CALL sp_caller_transaction_open(v_outer);
    IF v_outer THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_apply_retention commits: call it outside a transaction';
    END IF;

    BEGIN
        DECLARE EXIT HANDLER FOR SQLEXCEPTION
        BEGIN
            ROLLBACK;
            RESIGNAL;
        END;

        alerts: LOOP
            SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
            START TRANSACTION;
            DELETE FROM ticket_alerts
            WHERE created_at < v_now - INTERVAL v_alert_days DAY
            ORDER BY created_at
            LIMIT 5000;
            SET v_rows = ROW_COUNT();
            COMMIT;
            SET v_alerts = v_alerts + v_rows;
            IF v_rows < 5000 THEN
                LEAVE alerts;
            END IF;
        END LOOP;

        snapshots: LOOP
            SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
            START TRANSACTION;
            DELETE FROM daily_urgent_tickets
            WHERE snapshot_date < DATE(v_now) - INTERVAL v_snapshot_days DAY
            ORDER BY snapshot_date
            LIMIT 5000;
            SET v_rows = ROW_COUNT();
            COMMIT;
            SET v_snapshots = v_snapshots + v_rows;
            IF v_rows < 5000 THEN
                LEAVE snapshots;
            END IF;
        END LOOP;
    END;

    SELECT
        v_alerts AS alerts_deleted,
        v_snapshots AS snapshot_rows_deleted;
END$$

DELIMITER ;
