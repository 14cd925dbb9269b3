DROP PROCEDURE IF EXISTS sp_snapshot_urgent_tickets;

DELIMITER $$

CREATE PROCEDURE sp_snapshot_urgent_tickets (
    IN in_date DATE
)
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Fills daily_urgent_tickets for one date with the morning list: open tickets
that are overdue, due by the end of that day (UTC), or of urgent priority
(waiting_customer tickets only when urgent: their clock is stopped). Running
it again for the same date replaces that date''s snapshot in one
transaction. The list is read from the index of open tickets by deadline
and the index of urgent tickets, then each row''s customer by key; it runs
at READ COMMITTED, so it takes no shared locks on the tickets it reads.
Returns one row: snapshot_date, tickets. A date after tomorrow (UTC) is
refused: the list is taken now, so it cannot be a later day''s.
A batch job: it runs its own transaction and commits, so it refuses to run
inside the caller''s open transaction (ticketdb: message, nothing done).

Parameters
-----------
in_date (DATE): the day of the list.

Example
-----------
CALL sp_snapshot_urgent_tickets(CURRENT_DATE);
'
BEGIN
    DECLARE v_now DATETIME DEFAULT UTC_TIMESTAMP();
    DECLARE v_end DATETIME;
    DECLARE v_count INT DEFAULT 0;
    DECLARE v_outer BOOLEAN DEFAULT FALSE;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_snapshot_urgent_tickets');

    IF in_date IS NULL THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_snapshot_urgent_tickets: the date must not be NULL';
    END IF;
    IF in_date > DATE(v_now) + INTERVAL 1 DAY THEN
        SET v_message = CONCAT(
            'ticketdb: sp_snapshot_urgent_tickets: date ', in_date,
            ' is after tomorrow (UTC): the list is taken now'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
    CALL sp_caller_transaction_open(v_outer);
    IF v_outer THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_snapshot_urgent_tickets commits: call it outside a transaction';
    END IF;
    SET v_end = in_date + INTERVAL 1 DAY;

    BEGIN
        DECLARE EXIT HANDLER FOR SQLEXCEPTION
        BEGIN
            ROLLBACK;
            RESIGNAL;
        END;

        SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
        START TRANSACTION;
        DELETE FROM daily_urgent_tickets
        WHERE snapshot_date = in_date;
        INSERT INTO daily_urgent_tickets (
            snapshot_date, ticket_id, reason, priority, current_status, customer_id,
            customer_tier, assigned_agent_id, subject, deadline, minutes_left, taken_at
        )
        SELECT STRAIGHT_JOIN
            in_date AS snapshot_date,
            t.ticket_id,
            CASE
                WHEN t.current_status = 'waiting_customer' THEN 'urgent'
                WHEN t.deadline <= v_now THEN 'overdue'
                WHEN t.deadline < v_end THEN 'due_today'
                ELSE 'urgent'
            END AS reason,
            t.priority,
            t.current_status,
            t.customer_id,
            c.tier,
            t.assigned_agent_id,
            t.subject,
            t.deadline,
            FLOOR(TIMESTAMPDIFF(SECOND, v_now, t.deadline) / 60) AS minutes_left,
            v_now AS taken_at
        FROM (
            -- open tickets due by the end of the day (status-and-deadline index)
            SELECT ticket_id
            FROM service_tickets
            WHERE
                current_status IN ('pending', 'in_progress')
                AND deadline < v_end
            UNION DISTINCT
            -- urgent open tickets (priority-and-age index)
            SELECT ticket_id
            FROM service_tickets
            WHERE
                priority = 'urgent'
                AND current_status IN ('pending', 'in_progress', 'waiting_customer')
        ) AS picked
        INNER JOIN service_tickets AS t ON picked.ticket_id = t.ticket_id
        INNER JOIN customers AS c ON t.customer_id = c.customer_id;
        SET v_count = ROW_COUNT();
        COMMIT;
    END;
    SELECT
        in_date AS snapshot_date,
        v_count AS tickets;
END$$

DELIMITER ;
