-- The status flow (CONTRACT §3). Inserting a log row checks the move against
-- the ticket's current state, fills from_status / to_status (and the
-- priorities for 'escalate'), and moves the ticket in the same statement, so
-- the log row and the ticket change commit or fail together.
--
-- One exception: sp_escalate_priorities raises a whole batch with one UPDATE
-- and then logs it; while its marker is set, its own 'escalate' rows (with
-- the batch's action_time) are taken as they are.
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
BEGIN
    -- A row of sp_escalate_priorities' batch is already applied: take it as is.
    IF NOT (
        @ticketdb_flow_escalation IS NOT NULL
        AND NEW.action_time = @ticketdb_flow_escalation
        AND NEW.action_type = 'escalate'
    ) THEN
        BEGIN
            DECLARE v_status VARCHAR(20);
            DECLARE v_priority VARCHAR(10);
            DECLARE v_agent INT UNSIGNED;
            DECLARE v_created DATETIME;
            DECLARE v_waiting_since DATETIME;
            DECLARE v_last_action DATETIME;
            DECLARE v_to VARCHAR(20);
            DECLARE v_active TINYINT;
            DECLARE v_paused INT DEFAULT 0;
            DECLARE v_error VARCHAR(110);
            DECLARE v_message VARCHAR(128);
            DECLARE EXIT HANDLER FOR SQLEXCEPTION
            BEGIN
                SET @ticketdb_flow_ticket = NULL;
                RESIGNAL;
            END;

            SELECT
                current_status,
                priority,
                assigned_agent_id,
                created_at,
                waiting_since,
                last_action_at
            INTO v_status, v_priority, v_agent, v_created, v_waiting_since, v_last_action
            FROM service_tickets
            WHERE ticket_id = NEW.ticket_id -- noqa: RF01
            FOR UPDATE;

            -- The rules every action obeys, tested at once; the chain names the broken one.
            IF
                v_status IS NULL
                OR NEW.action_type IS NULL
                OR NEW.action_time < v_created
                OR NEW.action_time < v_last_action
                OR NEW.action_time > UTC_TIMESTAMP() + INTERVAL 5 MINUTE
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
                ELSEIF NEW.action_time > UTC_TIMESTAMP() + INTERVAL 5 MINUTE THEN
                    SET v_error = 'action_time is in the future (timestamps are UTC)';
                ELSEIF NEW.new_priority IS NOT NULL AND NEW.action_type <> 'escalate' THEN
                    SET v_error = 'only escalate changes the priority';
                ELSE
                    SET v_error = CONCAT('''', NEW.action_type, ''' needs an agent_id');
                END IF;
            ELSE
                IF NEW.action_type IN ('assign', 'transfer') THEN
                    SELECT is_active INTO v_active FROM agents
                    WHERE agent_id = NEW.agent_id; -- noqa: RF01
                    IF v_active IS NULL THEN
                        SET v_error = CONCAT('no such agent ', NEW.agent_id);
                    ELSEIF v_active = 0 THEN
                        SET v_error = CONCAT('agent ', NEW.agent_id, ' is not active');
                    ELSEIF NEW.agent_id <=> v_agent THEN
                        SET v_error = CONCAT('already assigned to agent ', NEW.agent_id);
                    END IF;
                END IF;
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
                            IF(v_agent IS NULL, 'pending', 'in_progress'),
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
                ) THEN
                    IF NEW.from_status <> v_status THEN
                        SET v_error = CONCAT(
                            'the log row says ''', NEW.from_status, ''' but the ticket is ''',
                            v_status, ''''
                        );
                    ELSE
                        SET v_error = CONCAT(
                            '''', NEW.action_type, ''' leads to ''', v_to, ''', not ''',
                            NEW.to_status, ''''
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

            -- Leaving waiting_customer: the paused time counts towards the deadline.
            IF v_status = 'waiting_customer' AND v_to <> 'waiting_customer' THEN
                SET v_paused = GREATEST(
                    0, TIMESTAMPDIFF(MINUTE, v_waiting_since, NEW.action_time)
                );
            END IF;

            -- Move the ticket: each action sets only what it changes.
            SET @ticketdb_flow_ticket = NEW.ticket_id;
            CASE
                WHEN NEW.action_type IN ('assign', 'transfer') THEN
                    UPDATE service_tickets
                    SET
                        current_status = v_to,
                        assigned_agent_id = NEW.agent_id,
                        last_action_at = NEW.action_time
                    WHERE ticket_id = NEW.ticket_id;
                WHEN NEW.action_type = 'reply' THEN
                    UPDATE service_tickets
                    SET
                        first_response_at = COALESCE(first_response_at, NEW.action_time),
                        last_action_at = NEW.action_time
                    WHERE ticket_id = NEW.ticket_id;
                WHEN NEW.action_type = 'wait_customer' THEN
                    UPDATE service_tickets
                    SET
                        current_status = v_to,
                        waiting_since = NEW.action_time,
                        last_action_at = NEW.action_time
                    WHERE ticket_id = NEW.ticket_id;
                WHEN NEW.action_type = 'escalate' THEN
                    UPDATE service_tickets
                    SET
                        priority = NEW.new_priority,
                        last_action_at = NEW.action_time
                    WHERE ticket_id = NEW.ticket_id;
                ELSE  -- resume, resolve, close, reopen
                    UPDATE service_tickets
                    SET
                        current_status = v_to,
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
                        last_action_at = NEW.action_time
                    WHERE ticket_id = NEW.ticket_id;
            END CASE;
            SET @ticketdb_flow_ticket = NULL;
        END;
    END IF;
END$$

DELIMITER ;
