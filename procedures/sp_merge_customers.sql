-- The linter's MySQL grammar cannot parse SAVEPOINT statements:
-- sqlfluff:ignore:parsing
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
Merges customer in_drop into in_keep: every ticket, interaction,
conversation, rating and order of in_drop (and its side of the chat messages)
moves to in_keep, a row in customer_merges records who merged, when, what
in_drop was and how much moved, and in_drop is removed. The merging agent
is the one the session''s login is bound to in agent_logins (by user name),
never taken on trust: in_agent must be that agent (or NULL for it).
Refused, with nothing changed: the same id twice, an unknown customer, a
login bound to no agent or to another agent than in_agent, an agent that
is not active, or an open conversation of in_drop claimed by another agent.
Returns one row: merge_id and the counts moved.
Transactions: outside a transaction it runs its own and commits, retrying
a deadlock (1213) inside, 3 attempts in all; inside the caller''s open
transaction it works there (a savepoint; it never commits or rolls back
the caller''s work; a 1213 there is the caller''s to retry).

Parameters
-----------
in_keep (INT UNSIGNED): the customer that stays.
in_drop (INT UNSIGNED): the customer merged into in_keep and removed.
in_agent (INT UNSIGNED): the login''s own agent (NULL: the login''s agent).

Example
-----------
CALL sp_merge_customers(17, 4242, 3);
'
BEGIN  -- noqa: LT02
    DECLARE v_found INT DEFAULT 0;  -- noqa: LT02
    DECLARE v_merge_id INT UNSIGNED;
    DECLARE v_active TINYINT;
    DECLARE v_claimed INT UNSIGNED;
    DECLARE v_tickets INT UNSIGNED DEFAULT 0;
    DECLARE v_interactions INT UNSIGNED DEFAULT 0;
    DECLARE v_conversations INT UNSIGNED DEFAULT 0;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_login VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
    DECLARE v_actor INT UNSIGNED;
    DECLARE v_outer BOOLEAN DEFAULT FALSE;
    DECLARE v_attempt INT DEFAULT 0;
    DECLARE v_retry BOOLEAN DEFAULT FALSE;

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
    SET v_login = SUBSTRING_INDEX(SESSION_USER(), '@', 1);
    SELECT agent_id INTO v_actor FROM agent_logins
    WHERE login_user = v_login;
    IF v_actor IS NULL THEN
        SET v_message = CONCAT(
            'ticketdb: merge: login ', v_login,
            ' is bound to no agent (agent_logins)'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
    IF in_agent IS NOT NULL AND in_agent <> v_actor THEN
        SET v_message = CONCAT(
            'ticketdb: merge: login ', v_login, ' is agent ', v_actor,
            ', not agent ', in_agent, ': it merges as its own agent'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
    SELECT is_active INTO v_active FROM agents
    WHERE agent_id = v_actor;
    IF v_active IS NULL OR v_active = 0 THEN
        SET v_message = CONCAT(
            'ticketdb: merge: agent ', v_actor, ' (login ', v_login, ') is not an active agent'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;

    CALL sp_caller_transaction_open(v_outer);
    attempt: LOOP
        SET v_attempt = v_attempt + 1;
        SET v_retry = FALSE;
        BEGIN
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
                    ROLLBACK TO SAVEPOINT sp_merge_customers;
                ELSE
                    ROLLBACK;
                END IF;
                RESIGNAL;
            END;

            IF v_outer THEN
                SAVEPOINT sp_merge_customers;
            ELSE
                START TRANSACTION;
            END IF;
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
                AND agent_id <> v_actor
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
            -- orders follow the customer (their spend counts for in_keep's tier)
            UPDATE customer_orders
            SET customer_id = in_keep
            WHERE customer_id = in_drop;

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
                v_actor AS merged_by_agent_id,
                SESSION_USER() AS merged_login
            FROM customers
            WHERE customer_id = in_drop;
            SET v_merge_id = LAST_INSERT_ID();
            -- after the merge row: the ratings trigger allows exactly this move
            UPDATE ticket_ratings
            SET customer_id = in_keep
            WHERE customer_id = in_drop;
            DELETE FROM customer_data_issues
            WHERE customer_id = in_drop;
            DELETE FROM customers
            WHERE customer_id = in_drop;
            IF v_outer THEN
                RELEASE SAVEPOINT sp_merge_customers;
            ELSE
                COMMIT;
            END IF;
        END;
        IF NOT v_retry THEN
            LEAVE attempt;
        END IF;
        DO SLEEP(0.01 * v_attempt);
    END LOOP;

    SELECT
        v_merge_id AS merge_id,
        v_tickets AS tickets_moved,
        v_interactions AS interactions_moved,
        v_conversations AS conversations_moved;
END$$

DELIMITER ;
