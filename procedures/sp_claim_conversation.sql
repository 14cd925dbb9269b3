DROP PROCEDURE IF EXISTS sp_claim_conversation;

DELIMITER $$

CREATE PROCEDURE sp_claim_conversation (
    IN in_conversation_id BIGINT UNSIGNED,
    IN in_agent_id INT UNSIGNED
)
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Claims an unclaimed chat conversation that is not closed (status open or
pending) for an agent with one conditional UPDATE, so of two agents racing
for it exactly one wins. Returns one row: claimed, 1 when this agent got it
and 0 when it was already taken or is closed. An unknown conversation or an
inactive agent is refused with a ticketdb: error. Transactions: it never
commits or rolls back; inside the caller''s open transaction its UPDATE is
part of it (and the claim stays locked until the caller commits), outside
one the UPDATE commits alone.

Parameters
-----------
in_conversation_id (BIGINT UNSIGNED): the conversation.
in_agent_id (INT UNSIGNED): an active agent.

Example
-----------
CALL sp_claim_conversation(1001, 7);
'
BEGIN
    DECLARE v_active TINYINT;
    DECLARE v_claimed INT DEFAULT 0;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_claim_conversation');

    SELECT is_active INTO v_active FROM agents
    WHERE agent_id = in_agent_id;
    IF v_active IS NULL OR v_active = 0 THEN
        SET v_message = CONCAT(
            'ticketdb: conversation ', COALESCE(in_conversation_id, 'NULL'),
            ': agent ', COALESCE(in_agent_id, 'NULL'), ' is not an active agent'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM conversations
        WHERE conversation_id = in_conversation_id
    ) THEN
        SET v_message = CONCAT(
            'ticketdb: conversation ', COALESCE(in_conversation_id, 'NULL'),
            ': no such conversation'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;

    UPDATE conversations
    SET agent_id = in_agent_id
    WHERE
        conversation_id = in_conversation_id
        AND agent_id IS NULL
        AND status <> 'closed';
    SET v_claimed = ROW_COUNT();
    SELECT v_claimed AS claimed;
END$$

DELIMITER ;
