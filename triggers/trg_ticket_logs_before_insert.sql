-- The status flow (docs/api.md). Inserting a log row checks the move against
-- the ticket's current state, fills from_status / to_status (and the
-- priorities for 'escalate'), and moves the ticket in the same statement, so
-- the log row and the ticket change commit or fail together. Every row, the
-- escalation's included, goes through the same checks: nothing a session
-- sets (no @variable) can make the trigger take a row as it is.
--
-- The ticket's UPDATE is let through by the guard on service_tickets because
-- this trigger holds a mark in ticketdb_flow_marks (its connection, that
-- ticket) for exactly that UPDATE; no role can write that table.
--
-- action_time more than 5 minutes in the past is refused unless the row was
-- staged in ticket_log_imports (the import path); the trigger consumes the
-- staged row. actor_login is always the session's login.
--
-- ticket_seq numbers the ticket's rows 1, 2, 3 ... (V030): the counter
-- service_tickets.log_seq, read and advanced under the ticket's row lock, so
-- the numbers follow the order rows really take the lock, whatever order
-- their AUTO_INCREMENT log_ids were reserved in. row_hash chains the row to
-- the ticket's previous one, its number included (fn_ticket_log_hash_seq):
-- computed from service_tickets.log_head, read with that lock, and written
-- back as the new head in the same UPDATE that moves the ticket.
-- sp_verify_audit_trail follows ticket_seq. Whatever the client sends as
-- ticket_seq or row_hash is replaced.
--
-- Written for speed as well as reading: the server re-prepares every
-- expression a trigger runs, so the common path runs few and short ones (one
-- combined test of the general rules, a CASE on the action, and one UPDATE of
-- only the columns that action changes). bench/README.md, P3, has the figures.
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_ticket_logs_before_insert;

DELIMITER $$

CREATE TRIGGER trg_ticket_logs_before_insert
BEFORE INSERT ON ticket_logs
FOR EACH ROW
flow: BEGIN
    DECLARE v_status VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_priority VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_agent INT UNSIGNED;
    DECLARE v_created DATETIME;
    DECLARE v_waiting_since DATETIME;
    DECLARE v_last_action DATETIME;
    DECLARE v_head BINARY(32);
    DECLARE v_seq INT UNSIGNED;
    DECLARE v_to VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_active TINYINT;
    DECLARE v_paused INT DEFAULT 0;
    DECLARE v_keep_agent BOOLEAN DEFAULT TRUE;
    DECLARE v_error VARCHAR(110) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_now DATETIME;

    -- The escalation's rows (sp_escalate_priorities, set-based): the
    -- procedure, the definer's own code, computed each row's from/to values,
    -- number and hash from the tickets it holds locked, and raises those
    -- tickets itself in one UPDATE. Such a row is taken as it is only while
    -- this connection holds the procedure's escalation mark, and only when
    -- the row carries the mark's secret in actor_login (replaced here by the
    -- login, as on every row). No role can read or write ticketdb_flow_marks,
    -- so no session knows the secret (docs/security.md, "The escalation's
    -- mark"); any other row, a client's row_hash included, takes the full
    -- path below. A scalar subquery, not SELECT ... INTO: an empty result
    -- raises no warning for the session check below to see.
    IF NEW.row_hash IS NOT NULL AND NEW.action_type = 'escalate' THEN
        -- Nested: the server prepares a condition only when it reaches it,
        -- so the flow's other rows never pay for this subquery.
        IF NEW.actor_login = (
            SELECT m.batch_token FROM ticketdb_flow_marks AS m
            WHERE
                m.node_key = CRC32(CONCAT(@@hostname, ':', @@port))
                AND m.connection_id = CONNECTION_ID()
                AND m.ticket_id IS NULL
        ) THEN
            SET NEW.actor_login = SESSION_USER();
            LEAVE flow;
        END IF;
    END IF;

    -- Hostile sessions (docs/security.md): a named log_id, warnings before the
    -- rules ran (weak sql_mode, IGNORE) or a weakening switch is refused,
    -- naming it; the hot path pays one combined test. Inline, not a CALL of
    -- sp_refuse_unsafe_session: a routine a trigger names is prelocked (an
    -- MDL lock) by every statement that fires it, which cost the flow ~50%.
    IF
        NEW.log_id <> 0 OR @@warning_count > 0 OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        SET v_message = LEFT(CONCAT(
            'ticketdb: ', CONCAT('ticket ', NEW.ticket_id), ': ',
            CASE
                WHEN NEW.log_id <> 0
                    THEN
                        CONCAT(
                            'log_id is chosen by the server, not the client (got ',
                            NEW.log_id, ')'
                        )
                WHEN @@warning_count > 0
                    THEN
                        CONCAT(
                            'refused: the statement raised ', @@warning_count,
                            ' warning(s) before the rules ran (sql_mode not strict, or IGNORE)'
                        )
                WHEN @@session.max_error_count = 0 THEN 'refused under max_error_count = 0'
                WHEN @@session.foreign_key_checks = 0
                    THEN 'refused under foreign_key_checks = 0'
                WHEN @@session.unique_checks = 0 THEN 'refused under unique_checks = 0'
                ELSE 'refused under check_constraint_checks = 0'
            END
        ), 128);
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
    -- "Now" is SYSDATE() in UTC: SET timestamp moves NOW(), UTC_TIMESTAMP()
    -- and the column default, not SYSDATE(). NOW() cannot be compared with
    -- SYSDATE() here (it is the start of the triggering statement, which may
    -- run long), so a defaulted action_time (it equals the session's
    -- UTC_TIMESTAMP()) is replaced with the real time instead: honest rows
    -- get the same second, a forged default gets the truth.
    SET v_now = CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00');
    IF NEW.action_time = UTC_TIMESTAMP() THEN
        SET NEW.action_time = v_now;
    END IF;

    SELECT
        current_status,
        priority,
        assigned_agent_id,
        created_at,
        waiting_since,
        last_action_at,
        log_head,
        log_seq,
        -- The row's agent, read here rather than in a statement of its own
        -- (each costs the trigger): NULL when there is no such agent.
        (
            SELECT a.is_active FROM agents AS a
            WHERE a.agent_id = NEW.agent_id -- noqa: RF01
        ) AS agent_active
    INTO v_status, v_priority, v_agent, v_created, v_waiting_since, v_last_action, v_head, v_seq,
    v_active
    FROM service_tickets
    WHERE ticket_id = NEW.ticket_id -- noqa: RF01
    FOR UPDATE;

    -- The rules every action obeys, tested at once; the chain names the broken one.
    IF
        v_status IS NULL
        OR NEW.action_type IS NULL
        OR NEW.action_time < v_created
        OR NEW.action_time < v_last_action
        OR NEW.action_time > v_now + INTERVAL 5 MINUTE
        OR NEW.action_time < v_now - INTERVAL 5 MINUTE
        OR (NEW.new_priority IS NOT NULL AND NEW.action_type <> 'escalate')
        OR (NEW.agent_id IS NULL AND NEW.action_type IN ('assign', 'transfer', 'reply'))
    THEN
        IF v_status IS NULL THEN
            SET v_error = 'no such ticket';
        ELSEIF NEW.action_type IS NULL THEN
            SET v_error = 'action_type is required';
        ELSEIF NEW.action_time < v_created THEN
            SET v_error = 'action_time is before the ticket was created';
        ELSEIF NEW.action_time < v_last_action THEN
            SET v_error = 'action_time is before the ticket''s last logged action';
        ELSEIF NEW.action_time > v_now + INTERVAL 5 MINUTE THEN
            SET v_error = 'action_time is in the future (timestamps are UTC)';
        ELSEIF NEW.new_priority IS NOT NULL AND NEW.action_type <> 'escalate' THEN
            SET v_error = 'only escalate changes the priority';
        ELSEIF NEW.agent_id IS NULL AND NEW.action_type IN ('assign', 'transfer', 'reply') THEN
            SET v_error = CONCAT('''', NEW.action_type, ''' needs an agent_id');
        ELSE
            -- Only the past is left: a backdated row must have been staged in
            -- ticket_log_imports, and takes its staged row with it.
            DELETE FROM ticket_log_imports
            WHERE
                ticket_id = NEW.ticket_id -- noqa: RF01
                AND action_time = NEW.action_time -- noqa: RF01
                AND action_type = NEW.action_type -- noqa: RF01
            ORDER BY import_id
            LIMIT 1;
            IF ROW_COUNT() = 0 THEN
                SET v_error = 'action_time is in the past and the row was not staged for import';
            END IF;
        END IF;
    END IF;

    IF v_error IS NULL AND NEW.action_type IN ('assign', 'transfer') THEN
        IF v_active IS NULL THEN
            SET v_error = CONCAT('no such agent ', NEW.agent_id);
        ELSEIF v_active = 0 THEN
            SET v_error = CONCAT('agent ', NEW.agent_id, ' is not active');
        ELSEIF NEW.agent_id <=> v_agent THEN
            SET v_error = CONCAT('already assigned to agent ', NEW.agent_id);
        END IF;
    ELSEIF v_error IS NULL AND (
        (NEW.agent_id IS NOT NULL AND v_active IS NULL)
        OR (
            NEW.actor_agent_id IS NOT NULL AND NOT (NEW.actor_agent_id <=> NEW.agent_id)
            AND NOT EXISTS (
                SELECT 1 FROM agents
                WHERE agent_id = NEW.actor_agent_id -- noqa: RF01
            )
        )
    ) THEN
        -- Checked here, not left to the foreign keys: under INSERT IGNORE a
        -- failing key skips the row but keeps this trigger's ticket UPDATE.
        SET v_error = CONCAT(
            'no such agent ',
            IF(NEW.agent_id IS NOT NULL AND v_active IS NULL, NEW.agent_id, NEW.actor_agent_id)
        );
    ELSEIF v_error IS NULL AND NEW.action_type = 'reopen' AND v_agent IS NOT NULL THEN
        -- A reopened ticket never goes back to an agent who has left.
        SELECT is_active INTO v_active FROM agents
        WHERE agent_id = v_agent;
        SET v_keep_agent = COALESCE(v_active, 0) = 1;
    END IF;

    IF v_error IS NULL THEN
        -- Where the action leads from the current status (NULL: not allowed).
        CASE NEW.action_type
            WHEN 'assign' THEN
                SET v_to = IF(v_status = 'pending', 'in_progress', NULL);
            WHEN 'transfer' THEN
                SET v_to = IF(
                    v_status IN ('in_progress', 'waiting_customer'), v_status, NULL
                );
            WHEN 'reply' THEN
                SET v_to = IF(
                    v_status IN ('in_progress', 'waiting_customer'), v_status, NULL
                );
            WHEN 'wait_customer' THEN
                SET v_to = IF(v_status = 'in_progress', 'waiting_customer', NULL);
            WHEN 'resume' THEN
                SET v_to = IF(v_status = 'waiting_customer', 'in_progress', NULL);
            WHEN 'resolve' THEN
                SET v_to = IF(
                    v_status IN ('in_progress', 'waiting_customer'), 'resolved', NULL
                );
            WHEN 'close' THEN
                SET v_to = IF(v_status <> 'closed', 'closed', NULL);
            WHEN 'reopen' THEN
                SET v_to = IF(
                    v_status IN ('resolved', 'closed'),
                    IF(v_agent IS NULL OR NOT v_keep_agent, 'pending', 'in_progress'),
                    NULL
                );
            ELSE  -- 'escalate'
                SET v_to = IF(
                    v_status IN ('pending', 'in_progress', 'waiting_customer'),
                    v_status,
                    NULL
                );
        END CASE;

        IF v_to IS NULL THEN
            SET v_error = CONCAT(
                'cannot ''', NEW.action_type, ''' from ''', v_status, ''''
            );
        ELSEIF
            NEW.action_type = 'escalate'
            AND (NEW.new_priority IS NULL OR NEW.new_priority + 0 >= FIELD(
                v_priority, 'urgent', 'high', 'medium', 'low'
            ))
        THEN
            SET v_error = CONCAT(
                'escalate must raise the priority above ''', v_priority, ''''
            );
        END IF;

        IF v_error IS NULL AND NOT (
            COALESCE(NEW.from_status = v_status, TRUE)
            AND COALESCE(NEW.to_status = v_to, TRUE)
            AND COALESCE(NEW.old_priority = v_priority OR NEW.action_type <> 'escalate', TRUE)
        ) THEN
            IF NEW.from_status <> v_status THEN
                SET v_error = CONCAT(
                    'the log row says ''', NEW.from_status, ''' but the ticket is ''',
                    v_status, ''''
                );
            ELSEIF NEW.to_status <> v_to THEN
                SET v_error = CONCAT(
                    '''', NEW.action_type, ''' leads to ''', v_to, ''', not ''',
                    NEW.to_status, ''''
                );
            ELSE
                SET v_error = CONCAT(
                    'the log row says priority ''', NEW.old_priority,
                    ''' but the ticket is ''', v_priority, ''''
                );
            END IF;
        END IF;
    END IF;

    IF v_error IS NOT NULL THEN
        SET v_message = LEFT(
            CONCAT('ticketdb: ticket ', NEW.ticket_id, ': ', v_error), 128
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;

    SET NEW.from_status = v_status;
    SET NEW.to_status = v_to;
    SET NEW.old_priority = IF(NEW.action_type = 'escalate', v_priority, NULL);
    SET NEW.actor_login = SESSION_USER();
    IF NEW.actor_agent_id IS NULL AND NEW.action_type NOT IN ('assign', 'transfer') THEN
        SET NEW.actor_agent_id = NEW.agent_id;
    END IF;
    SET NEW.ticket_seq = v_seq + 1;
    SET NEW.row_hash = fn_ticket_log_hash_seq(
        v_head, NEW.ticket_seq, NEW.ticket_id, NEW.action_type, NEW.agent_id,
        NEW.from_status, NEW.to_status, NEW.old_priority, NEW.new_priority, NEW.note,
        NEW.action_time, NEW.actor_agent_id, NEW.actor_login
    );

    -- Leaving waiting_customer: the paused time counts towards the deadline.
    IF v_status = 'waiting_customer' AND v_to <> 'waiting_customer' THEN
        SET v_paused = GREATEST(
            0, TIMESTAMPDIFF(MINUTE, v_waiting_since, NEW.action_time)
        );
    END IF;

    -- Move the ticket: each action sets only what it changes. The mark lets
    -- the guard on service_tickets know this UPDATE is the flow's own.
    INSERT INTO ticketdb_flow_marks (node_key, connection_id, ticket_id)
    VALUES (CRC32(CONCAT(@@hostname, ':', @@port)), CONNECTION_ID(), NEW.ticket_id)
    ON DUPLICATE KEY UPDATE ticket_id = NEW.ticket_id;
    CASE
        WHEN NEW.action_type IN ('assign', 'transfer') THEN
            UPDATE service_tickets
            SET
                current_status = v_to,
                assigned_agent_id = NEW.agent_id,
                last_action_at = NEW.action_time,
                log_head = NEW.row_hash,
                log_seq = NEW.ticket_seq
            WHERE ticket_id = NEW.ticket_id;
        WHEN NEW.action_type = 'reply' THEN
            UPDATE service_tickets
            SET
                first_response_at = COALESCE(first_response_at, NEW.action_time),
                last_action_at = NEW.action_time,
                log_head = NEW.row_hash,
                log_seq = NEW.ticket_seq
            WHERE ticket_id = NEW.ticket_id;
        WHEN NEW.action_type = 'wait_customer' THEN
            UPDATE service_tickets
            SET
                current_status = v_to,
                waiting_since = NEW.action_time,
                last_action_at = NEW.action_time,
                log_head = NEW.row_hash,
                log_seq = NEW.ticket_seq
            WHERE ticket_id = NEW.ticket_id;
        WHEN NEW.action_type = 'escalate' THEN
            UPDATE service_tickets
            SET
                priority = NEW.new_priority,
                alert_stage = 0,
                last_action_at = NEW.action_time,
                log_head = NEW.row_hash,
                log_seq = NEW.ticket_seq
            WHERE ticket_id = NEW.ticket_id;
        ELSE  -- resume, resolve, close, reopen
            UPDATE service_tickets
            SET
                current_status = v_to,
                assigned_agent_id = IF(v_keep_agent, assigned_agent_id, NULL),
                resolved_at = CASE NEW.action_type
                    WHEN 'resolve' THEN NEW.action_time
                    WHEN 'reopen' THEN NULL
                    ELSE resolved_at
                END,
                closed_at = CASE NEW.action_type
                    WHEN 'close' THEN NEW.action_time
                    WHEN 'reopen' THEN NULL
                    ELSE closed_at
                END,
                waiting_since = NULL,
                paused_minutes = paused_minutes + v_paused,
                reopen_count = reopen_count + (NEW.action_type = 'reopen'),
                alert_stage = IF(v_paused > 0, 0, alert_stage),
                last_action_at = NEW.action_time,
                log_head = NEW.row_hash,
                log_seq = NEW.ticket_seq
            WHERE ticket_id = NEW.ticket_id;
    END CASE;
    DELETE FROM ticketdb_flow_marks
    WHERE
        node_key = CRC32(CONCAT(@@hostname, ':', @@port))
        AND connection_id = CONNECTION_ID();
END flow$$

DELIMITER ;
