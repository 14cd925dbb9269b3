DROP PROCEDURE IF EXISTS sp_escalate_priorities;

DELIMITER $$

CREATE PROCEDURE sp_escalate_priorities ()
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Applies every active escalation_rules row in one pass, in one transaction,
set-based. For each rule, most urgent target first, one statement locks and
collects the open tickets it matches (priority, age, status, unassigned)
through the priority-and-age index into an InnoDB temporary table (no size
cap: a backlog of any size escalates), with each ticket''s escalate log row
worked out from the locked ticket: from/to status, old and new priority, its
ticket_seq and row_hash (the chain, V030). A ticket is collected once, so
when several rules match it the highest target wins and a pass raises a
ticket one step at most. Then one INSERT writes those log rows and one
UPDATE ... JOIN raises the tickets and moves their chain heads, under the
escalation mark (docs/security.md): the flow trigger takes a row as it is
only with the mark''s secret, which no session can know. Tickets whose last
action is stamped in the future (clock skew) wait for the next pass.
Returns one row: escalated (the count). A batch job: it runs its own
transactions and commits, and refuses to run inside a caller''s open
transaction. May return 1205 or 1213 under contention: retry the call.

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
    DECLARE v_raised INT DEFAULT 0;
    DECLARE v_done BOOLEAN DEFAULT FALSE;
    DECLARE v_from VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_to VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_age INT UNSIGNED;
    DECLARE v_only_status VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_only_unassigned BOOLEAN;
    DECLARE v_outer BOOLEAN DEFAULT FALSE;
    DECLARE v_login VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_token CHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
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
            ROLLBACK;  -- the escalation mark with everything else
        END IF;
        SET v_token = NULL;
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
    -- (SET timestamp) or a weakening switch, before anything is read. After
    -- this, v_now (UTC_TIMESTAMP()) is the real time, and the log rows,
    -- which the trigger takes as they are, carry it as their action_time.
    CALL sp_refuse_unsafe_session('sp_escalate_priorities');
    -- The login the flow trigger records on every row (it writes the same
    -- SESSION_USER() into actor_login): the hashes are computed with it.
    SET v_login = SESSION_USER();

    DROP TEMPORARY TABLE IF EXISTS tmp_ticketdb_escalation;
    CREATE TEMPORARY TABLE tmp_ticketdb_escalation (
        ticket_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
        from_status ENUM(
            'pending', 'in_progress', 'waiting_customer', 'resolved', 'closed'
        ) NOT NULL,
        old_priority ENUM('urgent', 'high', 'medium', 'low') NOT NULL,
        new_priority ENUM('urgent', 'high', 'medium', 'low') NOT NULL,
        ticket_seq INT UNSIGNED NOT NULL,
        row_hash BINARY(32) NOT NULL
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

    -- Gap locks keep the rules' ranges as collected until the commit,
    -- whatever isolation level the caller's session runs at.
    SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;
    START TRANSACTION;
    OPEN c_rules;
    apply_rules: LOOP
        FETCH c_rules INTO v_from, v_to, v_age, v_only_status, v_only_unassigned;
        IF v_done THEN
            LEAVE apply_rules;
        END IF;
        -- The flow's own rule, which the trigger no longer checks row by
        -- row: escalate must raise the priority (the CHECK on the table says
        -- so too; this holds even for a rule written with checks off).
        IF
            FIELD(v_to, 'urgent', 'high', 'medium', 'low')
            >= FIELD(v_from, 'urgent', 'high', 'medium', 'low')
        THEN
            SET v_message = CONCAT(
                'ticketdb: sp_escalate_priorities: a rule from ''', v_from,
                ''' to ''', v_to, ''' does not raise the priority'
            );
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
        END IF;
        -- One rule's tickets, locked, each with its log row worked out from
        -- the locked ticket as the flow trigger would: status kept, the old
        -- priority, the next number and the hash chained to the head. The
        -- rule's values are constants here, so the index on (priority,
        -- current_status, created_at) gives a range. IGNORE skips a ticket
        -- an earlier (more urgent) rule already took; the columns match the
        -- temporary table's, so nothing else can fail.
        INSERT IGNORE INTO tmp_ticketdb_escalation (
            ticket_id, from_status, old_priority, new_priority, ticket_seq, row_hash
        )
        SELECT
            ticket_id,
            current_status AS from_status,
            priority AS old_priority,
            v_to AS new_priority,
            log_seq + 1 AS ticket_seq,
            fn_ticket_log_hash_seq(
                log_head, log_seq + 1, ticket_id, 'escalate', NULL, current_status,
                current_status, priority, v_to, 'escalation rule', v_now, NULL, v_login
            ) AS row_hash
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

    -- The escalation mark (V040): this connection, no ticket, and a secret
    -- drawn for this call that only this local variable holds. Each log row
    -- carries it in actor_login; the flow trigger takes a row as it is only
    -- when it matches (and writes the login over it), and the guard on
    -- service_tickets lets the UPDATE below through while the mark is here.
    -- Inside this transaction: a failure rolls it back with the rest.
    SET v_token = SHA2(CONCAT(HEX(RANDOM_BYTES(32)), CONNECTION_ID(), SYSDATE(6)), 256);
    DELETE FROM ticketdb_flow_marks
    WHERE
        node_key = CRC32(CONCAT(@@hostname, ':', @@port))
        AND connection_id = CONNECTION_ID();
    INSERT INTO ticketdb_flow_marks (node_key, connection_id, ticket_id, batch_token)
    VALUES (CRC32(CONCAT(@@hostname, ':', @@port)), CONNECTION_ID(), NULL, v_token);

    INSERT INTO ticket_logs (
        ticket_id, action_type, from_status, to_status, old_priority, new_priority, note,
        action_time, actor_login, ticket_seq, row_hash
    )
    SELECT
        ticket_id,
        'escalate' AS action_type,
        from_status,
        from_status AS to_status,
        old_priority,
        new_priority,
        'escalation rule' AS note,
        v_now AS action_time,
        v_token AS actor_login,
        ticket_seq,
        row_hash
    FROM tmp_ticketdb_escalation
    ORDER BY ticket_id;
    SET v_count = ROW_COUNT();

    -- Each ticket as the flow moves it on 'escalate': the new priority (and
    -- deadline), alerts start over, the last action and the chain's head.
    UPDATE service_tickets AS t
    INNER JOIN tmp_ticketdb_escalation AS e -- noqa: LT02
            ON t.ticket_id = e.ticket_id
    SET
        t.priority = e.new_priority,
        t.alert_stage = 0,
        t.last_action_at = v_now,
        t.log_head = e.row_hash,
        t.log_seq = e.ticket_seq;
    SET v_raised = ROW_COUNT();
    DELETE FROM ticketdb_flow_marks
    WHERE
        node_key = CRC32(CONCAT(@@hostname, ':', @@port))
        AND connection_id = CONNECTION_ID();
    SET v_token = NULL;
    IF v_raised <> v_count THEN
        SET v_message = CONCAT(
            'ticketdb: sp_escalate_priorities: wrote ', v_count, ' log rows but raised ',
            v_raised, ' tickets'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
    COMMIT;

    DROP TEMPORARY TABLE tmp_ticketdb_escalation;
    SELECT v_count AS escalated;
END$$

DELIMITER ;
