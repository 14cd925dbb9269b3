-- The linter's MySQL grammar cannot parse LIMIT ... FOR UPDATE SKIP LOCKED:
-- sqlfluff:ignore:parsing
DROP PROCEDURE IF EXISTS sp_claim_next_ticket;

DELIMITER $$

CREATE PROCEDURE sp_claim_next_ticket (
    IN in_agent_id INT UNSIGNED,
    OUT out_ticket_id BIGINT UNSIGNED
)
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Assigns the next pending, unassigned ticket to the agent: highest priority
first, then earliest deadline. Rows another agent is claiming right now are
skipped (SKIP LOCKED), so many agents can claim at once without queueing
and no ticket is claimed twice. The agent is recorded as the actor of the
''assign'' row. A deadlock (1213) is retried inside, up to 3 attempts in
all; the third is returned to the caller. An inactive or unknown agent is
refused before anything else happens (the caller''s transaction is left
alone). Commits; call it outside a transaction.

Parameters
-----------
in_agent_id (INT UNSIGNED): an active agent.
out_ticket_id (BIGINT UNSIGNED): the claimed ticket, NULL when none is waiting.

Example
-----------
CALL sp_claim_next_ticket(7, @ticket);
SELECT @ticket;
'
BEGIN
    DECLARE v_ticket BIGINT UNSIGNED DEFAULT NULL;
    DECLARE v_active TINYINT;
    DECLARE v_attempt INT DEFAULT 0;
    DECLARE v_deadlocked BOOLEAN DEFAULT FALSE;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_claim_next_ticket');

    SET out_ticket_id = NULL;
    SELECT is_active INTO v_active FROM agents
    WHERE agent_id = in_agent_id;
    IF v_active IS NULL OR v_active = 0 THEN
        SET v_message = CONCAT(
            'ticketdb: agent ', COALESCE(in_agent_id, 'NULL'),
            ': no such active agent, cannot claim a ticket'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;

    claim: LOOP
        SET v_attempt = v_attempt + 1;
        SET v_deadlocked = FALSE;
        SET v_ticket = NULL;
        BEGIN
            DECLARE EXIT HANDLER FOR SQLEXCEPTION
            BEGIN
                ROLLBACK;
                RESIGNAL;
            END;
            BEGIN
                -- InnoDB has already rolled the whole transaction back.
                DECLARE EXIT HANDLER FOR 1213
                BEGIN
                    IF v_attempt >= 3 THEN
                        RESIGNAL;
                    END IF;
                    SET v_deadlocked = TRUE;
                END;

                START TRANSACTION;
                SELECT ticket_id INTO v_ticket
                FROM service_tickets
                WHERE current_status = 'pending' AND assigned_agent_id IS NULL
                ORDER BY priority ASC, deadline ASC, ticket_id ASC
                LIMIT 1
                FOR UPDATE SKIP LOCKED;

                IF v_ticket IS NOT NULL THEN
                    INSERT INTO ticket_logs (
                        ticket_id, action_type, agent_id, actor_agent_id, note
                    )
                    VALUES (v_ticket, 'assign', in_agent_id, in_agent_id, 'claimed');
                END IF;
                COMMIT;
            END;
        END;
        IF NOT v_deadlocked THEN
            LEAVE claim;
        END IF;
    END LOOP;
    SET out_ticket_id = v_ticket;
END$$

DELIMITER ;
