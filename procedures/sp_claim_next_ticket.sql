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
''assign'' row. An inactive or unknown agent is refused before anything
else happens.
On a Galera cluster SKIP LOCKED sees its own node''s locks only, so two
nodes would pick the same ticket and one would lose at certification. There
each node first takes the most urgent ticket of its own share (the tickets
whose CRC32(ticket_id) plus the current 5-second turn, modulo the cluster
size, is the node''s wsrep_local_index), then, when its share has none, the
most urgent of all. The shares rotate every 5 seconds, so a ticket in the
share of a node where nobody is claiming waits at most 5 seconds per such
node before another node''s agents take it.
Transactions: called outside a transaction it runs its own, commits, and
retries a deadlock or certification conflict (1213) inside, 3 attempts in
all (the third is returned). Called inside the caller''s open transaction
it works there (a savepoint; it never commits or rolls back the caller''s
work, and the claimed ticket stays locked until the caller commits); a
1213 there has rolled the caller''s transaction back: the caller retries.

Parameters
-----------
in_agent_id (INT UNSIGNED): an active agent.
out_ticket_id (BIGINT UNSIGNED): the claimed ticket, NULL when none is waiting.

Example
-----------
CALL sp_claim_next_ticket(7, @ticket);
SELECT @ticket;
'
BEGIN  -- noqa: LT02
    DECLARE v_ticket BIGINT UNSIGNED DEFAULT NULL;  -- noqa: LT02
    DECLARE v_active TINYINT;
    DECLARE v_attempt INT DEFAULT 0;
    DECLARE v_deadlocked BOOLEAN DEFAULT FALSE;
    DECLARE v_outer BOOLEAN DEFAULT FALSE;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_nodes INT UNSIGNED DEFAULT 1;
    DECLARE v_node_index INT UNSIGNED DEFAULT 0;
    DECLARE v_turn BIGINT UNSIGNED DEFAULT 0;
    DECLARE v_pass INT UNSIGNED DEFAULT 1;

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

    -- A Galera node (MariaDB only; MySQL reads this as a comment): the
    -- cluster's size and this node's place in it give the node its share.
    /*M!100400 IF @@wsrep_on THEN
        SELECT
            COALESCE(MAX(IF(variable_name = 'WSREP_CLUSTER_SIZE', variable_value, NULL)), 1),
            COALESCE(MAX(IF(variable_name = 'WSREP_LOCAL_INDEX', variable_value, NULL)), 0)
        INTO v_nodes, v_node_index
        FROM information_schema.global_status
        WHERE variable_name IN ('WSREP_CLUSTER_SIZE', 'WSREP_LOCAL_INDEX');
    END IF; */

    CALL sp_caller_transaction_open(v_outer);
    claim: LOOP
        SET v_attempt = v_attempt + 1;
        SET v_deadlocked = FALSE;
        SET v_ticket = NULL;
        BEGIN
            -- InnoDB has already rolled the whole transaction back: retry our
            -- own, hand the caller's back to the caller. (One block with the
            -- handler below: a RESIGNAL here never reaches it.)
            DECLARE EXIT HANDLER FOR 1213
            BEGIN
                IF v_outer OR v_attempt >= 3 THEN
                    RESIGNAL;
                END IF;
                SET v_deadlocked = TRUE;
            END;
            DECLARE EXIT HANDLER FOR SQLEXCEPTION
            BEGIN
                IF v_outer THEN
                    ROLLBACK TO SAVEPOINT sp_claim_next_ticket;
                ELSE
                    ROLLBACK;
                END IF;
                RESIGNAL;
            END;

            IF v_outer THEN
                SAVEPOINT sp_claim_next_ticket;
            ELSE
                IF v_nodes > 1 THEN
                    -- Under REPEATABLE READ a locking read keeps its lock on a
                    -- candidate that no longer matches (claimed meanwhile),
                    -- which another node's applier may need. READ COMMITTED
                    -- drops it at once (a Galera binlog is always ROW).
                    SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
                END IF;
                START TRANSACTION;
            END IF;
            -- The agent row the flow trigger locks, taken here first: a
            -- deadlock inside a trigger is a fatal sub-statement error no
            -- handler can catch (so it could not be retried); here it can.
            SELECT is_active INTO v_active FROM agents
            WHERE agent_id = in_agent_id
            LOCK IN SHARE MODE;
            IF v_nodes > 1 AND v_node_index < v_nodes THEN
                -- A Galera node (see the COMMENT): pass 1, this node's share,
                -- which no other node picks in this turn, so none is lost at
                -- certification; then, the share being empty, the most
                -- urgent of all, each node starting at its own place in the
                -- list (pass 2, then pass 3 for the places before it), so
                -- that the last few tickets do not draw every node to the
                -- first. Candidates are read without locks, then locked one
                -- at a time by key: a locking scan would lock (if briefly)
                -- rows on its way that another node's applier may need.
                SET v_turn = FLOOR(UNIX_TIMESTAMP(SYSDATE()) / 5);
                SET v_pass = 1;
                WHILE v_ticket IS NULL AND v_pass <= 3 DO
                    BEGIN
                        DECLARE v_candidate BIGINT UNSIGNED;
                        DECLARE v_place INT UNSIGNED DEFAULT 0;
                        DECLARE v_no_more BOOLEAN DEFAULT FALSE;
                        DECLARE c_candidates CURSOR FOR
                            SELECT ticket_id
                            FROM service_tickets
                            WHERE
                                current_status = 'pending' AND assigned_agent_id IS NULL
                                AND (
                                    v_pass > 1
                                    OR (CRC32(ticket_id) + v_turn) MOD v_nodes = v_node_index
                                )
                            ORDER BY priority ASC, deadline ASC, ticket_id ASC
                            LIMIT 32;
                        DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_no_more = TRUE;
                        OPEN c_candidates;
                        candidates: LOOP
                            FETCH c_candidates INTO v_candidate;
                            IF v_no_more THEN
                                LEAVE candidates;
                            END IF;
                            SET v_place = v_place + 1;
                            IF
                                v_pass = 1
                                OR (v_pass = 2 AND v_place > v_node_index)
                                OR (v_pass = 3 AND v_place <= v_node_index)
                            THEN
                                SELECT ticket_id INTO v_ticket
                                FROM service_tickets
                                WHERE
                                    ticket_id = v_candidate
                                    AND current_status = 'pending'
                                    AND assigned_agent_id IS NULL
                                FOR UPDATE SKIP LOCKED;
                                IF v_ticket IS NOT NULL THEN
                                    LEAVE candidates;
                                END IF;
                                SET v_no_more = FALSE;  -- that SELECT found none: next
                            END IF;
                        END LOOP;
                        CLOSE c_candidates;
                    END;
                    SET v_pass = v_pass + 1;
                END WHILE;
            ELSE
                SELECT ticket_id INTO v_ticket
                FROM service_tickets
                WHERE current_status = 'pending' AND assigned_agent_id IS NULL
                ORDER BY priority ASC, deadline ASC, ticket_id ASC
                LIMIT 1
                FOR UPDATE SKIP LOCKED;
            END IF;

            IF v_ticket IS NOT NULL THEN
                INSERT INTO ticket_logs (
                    ticket_id, action_type, agent_id, actor_agent_id, note
                )
                VALUES (v_ticket, 'assign', in_agent_id, in_agent_id, 'claimed');
            END IF;
            IF v_outer THEN
                RELEASE SAVEPOINT sp_claim_next_ticket;
            ELSE
                COMMIT;
            END IF;
        END;
        IF NOT v_deadlocked THEN
            LEAVE claim;
        END IF;
        DO SLEEP(0.01 * v_attempt);
    END LOOP;
    SET out_ticket_id = v_ticket;
END$$

DELIMITER ;
