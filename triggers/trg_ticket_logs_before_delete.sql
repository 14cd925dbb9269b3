-- ticket_logs is append-only: a DELETE of any log row is refused, except the
-- archive's own. sp_archive_ticket_logs moves rows to ticket_logs_YYYYMM and
-- deletes them in the same transaction while it holds a mark in
-- ticketdb_flow_marks (its connection, ticket 0: no ticket has id 0). No
-- role can write that table, so no session can forge the mark.
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_ticket_logs_before_delete;

DELIMITER $$

CREATE TRIGGER trg_ticket_logs_before_delete
BEFORE DELETE ON ticket_logs
FOR EACH ROW
BEGIN
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

    -- One primary-key lookup a row, and nothing else on the archive's path:
    -- the archive deletes millions of rows, each through this check
    -- (about 6 us a row on 2 cores, of the archive's 30-40).
    IF NOT EXISTS (
        SELECT 1
        FROM ticketdb_flow_marks
        WHERE
            node_key = CRC32(CONCAT(@@hostname, ':', @@port))
            AND connection_id = CONNECTION_ID()
            AND ticket_id = 0
    ) THEN
        SET v_message = CONCAT(
            'ticketdb: ticket ', OLD.ticket_id, ': ticket_logs is append-only (log ',
            OLD.log_id, ' cannot be deleted)'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
END$$

DELIMITER ;
