DROP PROCEDURE IF EXISTS sp_overdue_report;

DELIMITER $$

CREATE PROCEDURE sp_overdue_report (
    IN in_within_minutes INT
)
READS SQL DATA
SQL SECURITY INVOKER
COMMENT '
Description
-----------
Open tickets (pending, in_progress) whose deadline is before now plus the
window, soonest deadline first, answered from the index on
(current_status, deadline) alone. minutes_left is negative when overdue.

Parameters
-----------
in_within_minutes (INT): the window in minutes; 0 lists only overdue tickets.
A negative window (or NULL) is refused: overdue tickets are listed with 0.

Example
-----------
CALL sp_overdue_report(60);
'
BEGIN
    DECLARE v_now DATETIME DEFAULT UTC_TIMESTAMP();

    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_overdue_report');

    IF in_within_minutes IS NULL THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_overdue_report: the window must not be NULL';
    END IF;
    IF in_within_minutes < 0 THEN
        SET v_message = CONCAT(
            'ticketdb: sp_overdue_report: the window must be 0 or more minutes, not ',
            in_within_minutes, ' (0 lists the overdue tickets)'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;

    SELECT
        ticket_id,
        priority,
        current_status,
        assigned_agent_id,
        deadline,
        -- Whole minutes, rounded down: -1 as soon as a ticket is overdue
        -- (TIMESTAMPDIFF(MINUTE, ...) would say 0 for its first minute).
        FLOOR(TIMESTAMPDIFF(SECOND, v_now, deadline) / 60) AS minutes_left
    FROM service_tickets
    WHERE
        current_status IN ('pending', 'in_progress')
        AND deadline < v_now + INTERVAL in_within_minutes MINUTE
    ORDER BY deadline ASC, ticket_id ASC;
END$$

DELIMITER ;
