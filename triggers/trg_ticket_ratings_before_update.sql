-- A rating stands as the customer gave it: an UPDATE of ticket_ratings is
-- refused (a wrong rating is answered by a new resolution, not an edit).
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_ticket_ratings_before_update;

DELIMITER $$

CREATE TRIGGER trg_ticket_ratings_before_update
BEFORE UPDATE ON ticket_ratings
FOR EACH ROW
BEGIN
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    SET v_message = CONCAT(
        'ticketdb: ticket ', OLD.ticket_id, ': ratings cannot be changed (rating ',
        OLD.rating_id, ')'
    );
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
END$$

DELIMITER ;
