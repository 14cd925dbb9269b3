DROP PROCEDURE IF EXISTS sp_escalate_priorities;

DELIMITER $$

CREATE PROCEDURE sp_escalate_priorities ()
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Applies every active escalation_rules row in one set-based pass: the open
tickets each rule matches (priority, age, status, unassigned) are locked and
collected in one statement, then one INSERT writes an ''escalate'' log row per
ticket, through which the status-flow trigger raises the priority. When
several rules match a ticket the highest target wins; a pass raises a ticket
one step at most. Returns one row: escalated (the count). Commits.

Parameters
-----------
None.

Example
-----------
CALL sp_escalate_priorities();
'
BEGIN
    DECLARE v_now DATETIME DEFAULT UTC_TIMESTAMP();
    DECLARE v_count INT DEFAULT 0;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_escalation;
        RESIGNAL;
    END;

    DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_escalation;
    CREATE TEMPORARY TABLE tmp_ticketdb_escalation (
        ticket_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
        to_priority TINYINT UNSIGNED NOT NULL
    ) ENGINE = MEMORY;

    START TRANSACTION;
    INSERT INTO tmp_ticketdb_escalation (ticket_id, to_priority)
    SELECT
        t.ticket_id,
        MIN(r.to_priority + 0) AS to_priority
    FROM escalation_rules AS r
    INNER JOIN service_tickets AS t
        ON
            r.from_priority = t.priority
            AND t.current_status IN ('pending', 'in_progress', 'waiting_customer')
            AND t.created_at <= v_now - INTERVAL r.min_age_minutes MINUTE
    WHERE
        r.is_active
        AND (r.only_status IS NULL OR t.current_status = r.only_status)
        AND (NOT r.only_unassigned OR t.assigned_agent_id IS NULL)
    GROUP BY t.ticket_id
    FOR UPDATE;

    INSERT INTO ticket_logs (ticket_id, action_type, new_priority, note, action_time)
    SELECT
        ticket_id,
        'escalate' AS action_type,
        ELT(to_priority, 'urgent', 'high', 'medium', 'low') AS new_priority,
        'escalation rule' AS note,
        v_now AS action_time
    FROM tmp_ticketdb_escalation
    ORDER BY ticket_id;
    SET v_count = ROW_COUNT();
    COMMIT;

    DROP TEMPORARY TABLE tmp_ticketdb_escalation;
    SELECT v_count AS escalated;
END$$

DELIMITER ;
