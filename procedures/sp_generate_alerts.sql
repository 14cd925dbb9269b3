DROP PROCEDURE IF EXISTS sp_generate_alerts;

DELIMITER $$

CREATE PROCEDURE sp_generate_alerts (
    IN in_due_soon_minutes INT
)
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Writes ''overdue'' alerts for open tickets (pending, in_progress) past their
deadline and ''due_soon'' alerts for those whose deadline falls within the
window. At most one alert per ticket, type and deadline: a ticket whose
deadline moves (pause, escalation) is alerted again.
A run reads only tickets that still need an alert for their current
deadline (service_tickets.alert_stage, which this pass raises and the flow
resets when the deadline moves), so it costs what changed, not the size of
the overdue backlog. It runs at READ COMMITTED: it takes no shared locks on
the tickets it reads, so moves and new tickets are not blocked while it
runs; it briefly locks only the tickets it alerts. Returns one row:
alerts_written. A batch job: it runs its own transactions and commits, and refuses to run inside a caller''s open transaction.

Parameters
-----------
in_due_soon_minutes (INT): the due-soon window in minutes, 0 or more.

Example
-----------
CALL sp_generate_alerts(60);
'
BEGIN
    DECLARE v_now DATETIME DEFAULT UTC_TIMESTAMP();
    DECLARE v_horizon DATETIME;
    DECLARE v_count INT DEFAULT 0;
    DECLARE v_outer BOOLEAN DEFAULT FALSE;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_generate_alerts');

    IF in_due_soon_minutes IS NULL OR in_due_soon_minutes < 0 THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_generate_alerts: the window must be 0 minutes or more';
    END IF;
    SET v_horizon = v_now + INTERVAL in_due_soon_minutes MINUTE;

    CALL sp_caller_transaction_open(v_outer);
    IF v_outer THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_generate_alerts commits: call it outside a transaction';
    END IF;

    BEGIN
        DECLARE EXIT HANDLER FOR SQLEXCEPTION
        BEGIN
            ROLLBACK;
            DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_alerts;
            RESIGNAL;
        END;

        DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_alerts;
        CREATE TEMPORARY TABLE tmp_ticketdb_alerts (
            ticket_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
            alert_type ENUM('due_soon', 'overdue') NOT NULL,
            deadline DATETIME NOT NULL
        ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

        SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
        START TRANSACTION;
        -- The tickets whose alert_stage is below what their deadline calls
        -- for (1 due_soon, 2 overdue), read without locks through the
        -- (current_status, alert_stage, deadline) index.
        INSERT INTO tmp_ticketdb_alerts (ticket_id, alert_type, deadline)
        SELECT
            ticket_id,
            IF(deadline <= v_now, 'overdue', 'due_soon') AS alert_type,
            deadline
        FROM service_tickets
        WHERE
            current_status IN ('pending', 'in_progress')
            AND alert_stage IN (0, 1)
            AND deadline < v_horizon
            AND alert_stage < IF(deadline <= v_now, 2, 1);

        INSERT INTO ticket_alerts (ticket_id, alert_type, deadline, created_at)
        SELECT
            ticket_id,
            alert_type,
            deadline,
            v_now AS created_at
        FROM tmp_ticketdb_alerts
        ORDER BY ticket_id
        ON DUPLICATE KEY UPDATE alert_id = alert_id;
        SET v_count = ROW_COUNT();

        -- Raise the stage by primary key (the lock order of the status flow:
        -- row, then its index entries), where the deadline is still the one
        -- alerted; a deadline that moved meanwhile is left for the next run.
        UPDATE tmp_ticketdb_alerts AS c, service_tickets AS t
        SET t.alert_stage = IF(c.alert_type = 'overdue', 2, 1)
        WHERE
            c.ticket_id = t.ticket_id
            AND t.deadline = c.deadline
            AND t.current_status IN ('pending', 'in_progress')
            AND t.alert_stage < IF(c.alert_type = 'overdue', 2, 1);
        COMMIT;
        DROP TEMPORARY TABLE tmp_ticketdb_alerts;
    END;
    SELECT v_count AS alerts_written;
END$$

DELIMITER ;
