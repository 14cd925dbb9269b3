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
deadline moves (pause, escalation) is alerted again. Returns one row:
alerts_written.

Parameters
-----------
in_due_soon_minutes (INT): the due-soon window in minutes, 0 or more.

Example
-----------
CALL sp_generate_alerts(60);
'
BEGIN
    DECLARE v_now DATETIME DEFAULT UTC_TIMESTAMP();
    DECLARE v_count INT DEFAULT 0;

    IF in_due_soon_minutes IS NULL OR in_due_soon_minutes < 0 THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_generate_alerts: the window must be 0 minutes or more';
    END IF;

    INSERT INTO ticket_alerts (ticket_id, alert_type, deadline, created_at)
    SELECT
        t.ticket_id,
        IF(t.deadline <= v_now, 'overdue', 'due_soon') AS alert_type,
        t.deadline,
        v_now AS created_at
    FROM service_tickets AS t
    WHERE
        t.current_status IN ('pending', 'in_progress')
        AND t.deadline < v_now + INTERVAL in_due_soon_minutes MINUTE
        AND NOT EXISTS (
            SELECT 1
            FROM ticket_alerts AS a
            WHERE
                a.ticket_id = t.ticket_id
                AND a.alert_type = IF(t.deadline <= v_now, 'overdue', 'due_soon')
                AND a.deadline = t.deadline
        )
    ON DUPLICATE KEY UPDATE alert_id = alert_id;
    SET v_count = ROW_COUNT();
    SELECT v_count AS alerts_written;
END$$

DELIMITER ;
