DROP PROCEDURE IF EXISTS sp_mark_conversation_read;

DELIMITER $$

CREATE PROCEDURE sp_mark_conversation_read (
    IN in_conversation_id BIGINT UNSIGNED,
    IN in_reader_type VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
)
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Marks as read the messages the other side sent in a conversation: an agent
reading marks the customer''s messages, a customer reading marks the
agents''. Returns one row: marked, the number of messages newly marked.
Transactions: it never commits or rolls back; inside the caller''s open
transaction its UPDATE is part of it, outside one it commits alone.

Parameters
-----------
in_conversation_id (BIGINT UNSIGNED): the conversation.
in_reader_type (VARCHAR(10)): ''agent'' or ''customer'', who is reading.

Example
-----------
CALL sp_mark_conversation_read(1001, ''agent'');
'
BEGIN
    DECLARE v_marked INT DEFAULT 0;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_mark_conversation_read');

    IF in_reader_type IS NULL OR in_reader_type NOT IN ('agent', 'customer') THEN
        SET v_message = CONCAT(
            'ticketdb: conversation ', COALESCE(in_conversation_id, 'NULL'),
            ': reader type must be ''agent'' or ''customer'''
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

    UPDATE messages
    SET is_read = TRUE
    WHERE
        conversation_id = in_conversation_id
        AND sender_type <> in_reader_type
        AND NOT is_read;
    SET v_marked = ROW_COUNT();
    SELECT v_marked AS marked;
END$$

DELIMITER ;
