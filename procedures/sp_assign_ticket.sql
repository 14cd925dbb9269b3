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
anything else happens (the caller''s transaction is left alone); otherwise
it commits on success, rolls back and re-raises on error, so call it
outside a transaction. May return 1205 when the ticket is locked for long.

Parameters
-----------
in_ticket_id (BIGINT UNSIGNED): the ticket.
in_agent_id (INT UNSIGNED): an active agent.

Example
-----------
CALL sp_assign_ticket(42, 7);
'
BEGIN
    DECLARE v_status VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_agent INT UNSIGNED;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_assign_ticket');

    IF in_agent_id IS NULL THEN
        SET v_message = CONCAT(
            'ticketdb: ticket ', COALESCE(in_ticket_id, 'NULL'), ': assign needs an agent'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;

    BEGIN
        DECLARE EXIT HANDLER FOR SQLEXCEPTION
        BEGIN
            ROLLBACK;
            RESIGNAL;
        END;

        START TRANSACTION;
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

        INSERT INTO ticket_logs (ticket_id, action_type, agent_id)
        VALUES (in_ticket_id, IF(v_agent IS NULL, 'assign', 'transfer'), in_agent_id);
        COMMIT;
    END;
END$$

DELIMITER ;
