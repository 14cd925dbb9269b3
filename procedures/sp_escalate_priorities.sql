DROP PROCEDURE IF EXISTS sp_escalate_priorities;

DELIMITER $$

CREATE PROCEDURE sp_escalate_priorities ()
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Applies every active escalation_rules row in one set-based pass, in one
transaction: for each rule, one statement locks and collects the open
tickets it matches (priority, age, status, unassigned) through the
priority-and-age index; then one UPDATE raises them all and one INSERT logs
an ''escalate'' row per ticket (old and new priority, status unchanged).
Rules are applied most urgent target first and a ticket is collected once,
so when several rules match a ticket the highest target wins and a pass
raises a ticket one step at most. The status-flow triggers let exactly this
pass through (they check the batch marker, the action and the priorities)
and refuse the same change made any other way.
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
    DECLARE v_done BOOLEAN DEFAULT FALSE;
    DECLARE v_from VARCHAR(10);
    DECLARE v_to VARCHAR(10);
    DECLARE v_age INT UNSIGNED;
    DECLARE v_only_status VARCHAR(20);
    DECLARE v_only_unassigned BOOLEAN;
    DECLARE c_rules CURSOR FOR
        SELECT
            from_priority,
            to_priority,
            min_age_minutes,
            only_status,
            only_unassigned
        FROM escalation_rules
        WHERE is_active
        ORDER BY to_priority + 0, rule_id;
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = TRUE;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        SET @ticketdb_flow_escalation = NULL;
        DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_escalation;
        RESIGNAL;
    END;

    DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_escalation;
    CREATE TEMPORARY TABLE tmp_ticketdb_escalation (
        ticket_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
        from_status ENUM(
            'pending', 'in_progress', 'waiting_customer', 'resolved', 'closed'
        ) NOT NULL,
        old_priority ENUM('urgent', 'high', 'medium', 'low') NOT NULL,
        new_priority ENUM('urgent', 'high', 'medium', 'low') NOT NULL
    ) ENGINE = MEMORY;

    START TRANSACTION;
    OPEN c_rules;
    apply_rules: LOOP
        FETCH c_rules INTO v_from, v_to, v_age, v_only_status, v_only_unassigned;
        IF v_done THEN
            LEAVE apply_rules;
        END IF;
        -- One rule's tickets, locked. The rule's values are constants here, so
        -- the index on (priority, current_status, created_at) gives a range.
        -- IGNORE skips a ticket an earlier (more urgent) rule already took;
        -- the columns match the temporary table's, so nothing else can fail.
        INSERT IGNORE INTO tmp_ticketdb_escalation (
            ticket_id, from_status, old_priority, new_priority
        )
        SELECT
            ticket_id,
            current_status AS from_status,
            priority AS old_priority,
            v_to AS new_priority
        FROM service_tickets
        WHERE
            priority = v_from
            AND current_status IN ('pending', 'in_progress', 'waiting_customer')
            AND (v_only_status IS NULL OR current_status = v_only_status)
            AND created_at <= v_now - INTERVAL v_age MINUTE
            AND (NOT v_only_unassigned OR assigned_agent_id IS NULL)
        FOR UPDATE;
    END LOOP;
    CLOSE c_rules;

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
    FROM tmp_ticketdb_escalation;
    SET v_count = ROW_COUNT();
    SET @ticketdb_flow_escalation = NULL;
    COMMIT;

    DROP TEMPORARY TABLE tmp_ticketdb_escalation;
    SELECT v_count AS escalated;
END$$

DELIMITER ;
