DROP PROCEDURE IF EXISTS sp_merge_customers;

DELIMITER $$

CREATE PROCEDURE sp_merge_customers (
    IN in_keep INT UNSIGNED,
    IN in_drop INT UNSIGNED,
    IN in_agent INT UNSIGNED
)
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Merges customer in_drop into in_keep, in one transaction: every ticket,
interaction and conversation of in_drop (and its side of the chat messages)
moves to in_keep, a row in customer_merges records who merged, when, what
in_drop was and how much moved, and in_drop is removed. Refused, with
nothing changed: the same id twice, an unknown customer, an agent that is
not active, or an open conversation of in_drop claimed by another agent
than in_agent. Returns one row: merge_id and the counts moved. Commits its
own transaction: call it outside one.

Parameters
-----------
in_keep (INT UNSIGNED): the customer that stays.
in_drop (INT UNSIGNED): the customer merged into in_keep and removed.
in_agent (INT UNSIGNED): the active agent (a supervisor) doing the merge.

Example
-----------
CALL sp_merge_customers(17, 4242, 3);
'
BEGIN
    DECLARE v_found INT DEFAULT 0;
    DECLARE v_merge_id INT UNSIGNED;
    DECLARE v_active TINYINT;
    DECLARE v_claimed INT UNSIGNED;
    DECLARE v_tickets INT UNSIGNED DEFAULT 0;
    DECLARE v_interactions INT UNSIGNED DEFAULT 0;
    DECLARE v_conversations INT UNSIGNED DEFAULT 0;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_merge_customers');

    IF in_keep IS NULL OR in_drop IS NULL OR in_keep = in_drop THEN
        SET v_message = CONCAT(
            'ticketdb: merge needs two different customers (keep ',
            COALESCE(in_keep, 'NULL'), ', drop ', COALESCE(in_drop, 'NULL'), ')'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
    SELECT is_active INTO v_active FROM agents
    WHERE agent_id = in_agent;
    IF v_active IS NULL OR v_active = 0 THEN
        SET v_message = CONCAT(
            'ticketdb: merge: agent ', COALESCE(in_agent, 'NULL'),
            ' is not an active agent'
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
        -- both rows locked, lower id first: two merges never wait in a circle
        SELECT COUNT(*) INTO v_found FROM customers
        WHERE customer_id = LEAST(in_keep, in_drop)
        FOR UPDATE;
        IF v_found = 1 THEN
            SELECT COUNT(*) INTO v_found FROM customers
            WHERE customer_id = GREATEST(in_keep, in_drop)
            FOR UPDATE;
        END IF;
        IF v_found = 0 THEN
            SET v_message = CONCAT(
                'ticketdb: merge: customer ', in_keep, ' or ', in_drop, ' does not exist'
            );
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
        END IF;
        SELECT MIN(agent_id) INTO v_claimed FROM conversations
        WHERE
            customer_id = in_drop
            AND status <> 'closed'
            AND agent_id IS NOT NULL
            AND agent_id <> in_agent
        FOR UPDATE;
        IF v_claimed IS NOT NULL THEN
            SET v_message = CONCAT(
                'ticketdb: merge: customer ', in_drop,
                ' has an open conversation claimed by agent ', v_claimed,
                ': close it or let that agent merge'
            );
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
        END IF;

        UPDATE service_tickets
        SET customer_id = in_keep
        WHERE customer_id = in_drop;
        SET v_tickets = ROW_COUNT();
        UPDATE interactions
        SET customer_id = in_keep
        WHERE customer_id = in_drop;
        SET v_interactions = ROW_COUNT();
        UPDATE messages
        SET sender_id = in_keep
        WHERE
            sender_type = 'customer'
            AND sender_id = in_drop
            AND conversation_id IN (
                SELECT c.conversation_id FROM conversations AS c
                WHERE c.customer_id = in_drop
            );
        UPDATE conversations
        SET customer_id = in_keep
        WHERE customer_id = in_drop;
        SET v_conversations = ROW_COUNT();

        INSERT INTO customer_merges (
            dropped_customer_id, dropped_name, dropped_email, dropped_phone,
            kept_customer_id, tickets_moved, interactions_moved, conversations_moved,
            merged_by_agent_id, merged_login
        )
        SELECT
            customer_id,
            name,
            email,
            phone,
            in_keep AS kept_customer_id,
            v_tickets AS tickets_moved,
            v_interactions AS interactions_moved,
            v_conversations AS conversations_moved,
            in_agent AS merged_by_agent_id,
            SESSION_USER() AS merged_login
        FROM customers
        WHERE customer_id = in_drop;
        SET v_merge_id = LAST_INSERT_ID();
        DELETE FROM customer_data_issues
        WHERE customer_id = in_drop;
        DELETE FROM customers
        WHERE customer_id = in_drop;
        COMMIT;
    END;

    SELECT
        v_merge_id AS merge_id,
        v_tickets AS tickets_moved,
        v_interactions AS interactions_moved,
        v_conversations AS conversations_moved;
END$$

DELIMITER ;
