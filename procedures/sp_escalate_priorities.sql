DROP PROCEDURE IF EXISTS sp_escalate_priorities;

DELIMITER $$

CREATE PROCEDURE sp_escalate_priorities ()
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Applies every active escalation_rules row in one pass, in one transaction.
For each rule, most urgent target first, one statement locks and collects
the open tickets it matches (priority, age, status, unassigned) through the
priority-and-age index into an InnoDB temporary table (no size cap: a
backlog of any size escalates). A ticket is collected once, so when several
rules match it the highest target wins and a pass raises a ticket one step
at most. Then one INSERT writes an ''escalate'' log row per ticket, and the
status-flow trigger checks and applies each one exactly as it would an
application''s: no row is taken on trust. Tickets whose last action is
stamped in the future (clock skew) wait for the next pass.
Returns one row: escalated (the count). A batch job: it runs its own transactions and commits, and refuses to run inside a caller''s
open transaction. May return 1205 or 1213 under contention: retry the call.

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
    DECLARE v_from VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_to VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_age INT UNSIGNED;
    DECLARE v_only_status VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_only_unassigned BOOLEAN;
    DECLARE v_outer BOOLEAN DEFAULT FALSE;
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
        IF NOT v_outer THEN  -- the caller's transaction is the caller's
            ROLLBACK;
        END IF;
        DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_escalation;
        RESIGNAL;
    END;

    CALL sp_caller_transaction_open(v_outer);
    IF v_outer THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_escalate_priorities commits: call it outside a transaction';
    END IF;
    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_escalate_priorities');

    DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_escalation;
    CREATE TEMPORARY TABLE tmp_ticketdb_escalation (
        ticket_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
        new_priority ENUM('urgent', 'high', 'medium', 'low') NOT NULL
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

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
        INSERT IGNORE INTO tmp_ticketdb_escalation (ticket_id, new_priority)
        SELECT
            ticket_id,
            v_to AS new_priority
        FROM service_tickets
        WHERE
            priority = v_from
            AND current_status IN ('pending', 'in_progress', 'waiting_customer')
            AND (v_only_status IS NULL OR current_status = v_only_status)
            AND created_at <= v_now - INTERVAL v_age MINUTE
            AND (NOT v_only_unassigned OR assigned_agent_id IS NULL)
            AND (last_action_at IS NULL OR last_action_at <= v_now)
        FOR UPDATE;
    END LOOP;
    CLOSE c_rules;

    -- The flow trigger validates and applies each row (status and priority
    -- come from the locked ticket); rows go in ticket order.
    INSERT INTO ticket_logs (ticket_id, action_type, new_priority, note, action_time)
    SELECT
        ticket_id,
        'escalate' AS action_type,
        new_priority,
        'escalation rule' AS note,
        UTC_TIMESTAMP() AS action_time
    FROM tmp_ticketdb_escalation
    ORDER BY ticket_id;
    SET v_count = ROW_COUNT();
    COMMIT;

    DROP TEMPORARY TABLE tmp_ticketdb_escalation;
    SELECT v_count AS escalated;
END$$

DELIMITER ;
