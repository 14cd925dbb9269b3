-- The linter's MySQL grammar cannot parse SAVEPOINT statements:
-- sqlfluff:ignore:parsing
DROP PROCEDURE IF EXISTS sp_assign_ticket;

DELIMITER $$

CREATE PROCEDURE sp_assign_ticket (
    IN in_ticket_id BIGINT UNSIGNED,
    IN in_agent_id INT UNSIGNED
)
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Assigns a ticket to an agent. Locks the ticket row first, then writes an
''assign'' log row (ticket unassigned) or a ''transfer'' log row (assigned to
someone else); the status-flow trigger moves the ticket. The log row''s
actor_login records the login that called. A NULL agent is refused before
anything else happens.
Transactions: called inside the caller''s open transaction it works in
that transaction (a savepoint; it never commits or rolls back the
caller''s work: on error it undoes only its own and re-raises, and the
ticket stays locked until the caller commits); a deadlock (1213) there
rolls back the caller''s whole transaction, which the caller retries.
Called outside one, it runs its own transaction, commits, and retries a
deadlock or certification conflict (1213) inside, 3 attempts in all.
May return 1205 when the ticket is locked for long.

Parameters
-----------
in_ticket_id (BIGINT UNSIGNED): the ticket.
in_agent_id (INT UNSIGNED): an active agent.

Example
-----------
CALL sp_assign_ticket(42, 7);
'
BEGIN  -- noqa: LT02
    DECLARE v_status VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;  -- noqa: LT02
    DECLARE v_agent INT UNSIGNED;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_outer BOOLEAN DEFAULT FALSE;
    DECLARE v_attempt INT DEFAULT 0;
    DECLARE v_retry BOOLEAN DEFAULT FALSE;
    DECLARE v_locked INT UNSIGNED;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_assign_ticket');

    IF in_agent_id IS NULL THEN
        SET v_message = CONCAT(
            'ticketdb: ticket ', COALESCE(in_ticket_id, 'NULL'), ': assign needs an agent'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;

    CALL sp_caller_transaction_open(v_outer);
    attempt: LOOP
        SET v_attempt = v_attempt + 1;
        SET v_retry = FALSE;
        BEGIN
            -- InnoDB has rolled the whole transaction back: retry our own,
            -- hand the caller's back to the caller
            DECLARE EXIT HANDLER FOR 1213
            BEGIN
                IF v_outer OR v_attempt >= 3 THEN
                    RESIGNAL;
                END IF;
                SET v_retry = TRUE;
            END;
            DECLARE EXIT HANDLER FOR SQLEXCEPTION
            BEGIN
                IF v_outer THEN
                    ROLLBACK TO SAVEPOINT sp_assign_ticket;
                ELSE
                    ROLLBACK;
                END IF;
                RESIGNAL;
            END;

            IF v_outer THEN
                SAVEPOINT sp_assign_ticket;
            ELSE
                START TRANSACTION;
            END IF;
            SELECT
                current_status,
                assigned_agent_id
            INTO v_status, v_agent
            FROM service_tickets
            WHERE ticket_id = in_ticket_id
            FOR UPDATE;
            IF v_status IS NULL THEN
                SET v_message = CONCAT(
                    'ticketdb: ticket ', COALESCE(in_ticket_id, 'NULL'), ': no such ticket'
                );
                SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
            END IF;
            -- Every lock the flow trigger takes, taken here first: a deadlock
            -- inside a trigger is a fatal sub-statement error no handler can
            -- catch (so it could not be retried); here it can.
            SELECT agent_id INTO v_locked FROM agents
            WHERE agent_id = in_agent_id
            LOCK IN SHARE MODE;

            INSERT INTO ticket_logs (ticket_id, action_type, agent_id)
            VALUES (in_ticket_id, IF(v_agent IS NULL, 'assign', 'transfer'), in_agent_id);
            IF v_outer THEN
                RELEASE SAVEPOINT sp_assign_ticket;
            ELSE
                COMMIT;
            END IF;
        END;
        IF NOT v_retry THEN
            LEAVE attempt;
        END IF;
        DO SLEEP(0.01 * v_attempt);
    END LOOP;
END$$

DELIMITER ;
