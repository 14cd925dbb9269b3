-- ticket_logs is append-only: an UPDATE of any log row is refused.
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_ticket_logs_before_update;

DELIMITER $$

CREATE TRIGGER trg_ticket_logs_before_update
BEFORE UPDATE ON ticket_logs
FOR EACH ROW
BEGIN
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    SET v_message = CONCAT(
        'ticketdb: ticket ', OLD.ticket_id, ': ticket_logs is append-only (log ',
        OLD.log_id, ' cannot be updated)'
    );
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
END$$

DELIMITER ;
