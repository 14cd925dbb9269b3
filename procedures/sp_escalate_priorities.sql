DROP PROCEDURE IF EXISTS sp_escalate_priorities;

DELIMITER $$

CREATE PROCEDURE sp_escalate_priorities ()
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Applies every active escalation_rules row in one set-based pass, in one
transaction: the open tickets the rules match (priority, age, status,
unassigned) are locked and collected by one statement, raised by one UPDATE,
and logged by one INSERT of an ''escalate'' row per ticket (old and new
priority, status unchanged). When several rules match a ticket the highest
target wins; a pass raises a ticket one step at most. The status-flow
triggers let exactly this pass through (they check the batch marker, the
action and the priorities) and refuse the same change made any other way.
Returns one row: escalated (the count). Commits.

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
        SET @ticketdb_flow_escalation = NULL;
        DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_escalation;
        RESIGNAL;
    END;

    DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_escalation;
    CREATE TEMPORARY TABLE tmp_ticketdb_escalation (
        ticket_id BIGINT UNSIGNED NOT NULL,
        from_status ENUM(
            'pending', 'in_progress', 'waiting_customer', 'resolved', 'closed'
        ) NOT NULL,
        old_priority ENUM('urgent', 'high', 'medium', 'low') NOT NULL,
        new_priority ENUM('urgent', 'high', 'medium', 'low') NOT NULL,
        -- a B-tree, so that the log rows are written in ticket order without a sort
        PRIMARY KEY USING BTREE (ticket_id)
    ) ENGINE = MEMORY;

    START TRANSACTION;
    INSERT INTO tmp_ticketdb_escalation (
        ticket_id, from_status, old_priority, new_priority
    )
    SELECT
        t.ticket_id,
        t.current_status AS from_status,
        t.priority AS old_priority,
        ELT(MIN(r.to_priority + 0), 'urgent', 'high', 'medium', 'low') AS new_priority
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
    GROUP BY t.ticket_id, t.current_status, t.priority
    FOR UPDATE;

    SET @ticketdb_flow_escalation = v_now;
    UPDATE service_tickets AS t, tmp_ticketdb_escalation AS e
    SET
        t.priority = e.new_priority,
        t.last_action_at = v_now
    WHERE t.ticket_id = e.ticket_id;

    INSERT INTO ticket_logs (
        ticket_id, action_type, from_status, to_status, old_priority, new_priority,
        note, action_time
    )
    SELECT
        ticket_id,
        'escalate' AS action_type,
        from_status,
        from_status AS to_status,
        old_priority,
        new_priority,
        'escalation rule' AS note,
        v_now AS action_time
    FROM tmp_ticketdb_escalation
    ORDER BY ticket_id;
    SET v_count = ROW_COUNT();
    SET @ticketdb_flow_escalation = NULL;
    COMMIT;

    DROP TEMPORARY TABLE tmp_ticketdb_escalation;
    SELECT v_count AS escalated;
END$$

DELIMITER ;
