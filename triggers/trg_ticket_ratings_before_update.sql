-- A rating stands as the customer gave it: an UPDATE of ticket_ratings is
-- refused (a wrong rating is answered by a new resolution, not an edit).
-- One change is allowed, the one sp_merge_customers makes: customer_id
-- moving, alone, from a customer a recorded merge removed (customer_merges)
-- to the customer it was merged into, so no rating names a removed customer.
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_ticket_ratings_before_update;

DELIMITER $$

CREATE TRIGGER trg_ticket_ratings_before_update
BEFORE UPDATE ON ticket_ratings
FOR EACH ROW
BEGIN
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    IF NOT (
        NEW.rating_id = OLD.rating_id
        AND NEW.ticket_id = OLD.ticket_id
        AND NEW.resolution_no = OLD.resolution_no
        AND NEW.rating = OLD.rating
        AND NEW.rating_comment <=> OLD.rating_comment
        AND NEW.agent_id <=> OLD.agent_id
        AND NEW.category_id <=> OLD.category_id
        AND NEW.rated_at = OLD.rated_at
        AND EXISTS (
            SELECT 1 FROM customer_merges AS m
            WHERE
                m.dropped_customer_id = OLD.customer_id
                AND m.kept_customer_id = NEW.customer_id
        )
    ) THEN
        SET v_message = CONCAT(
            'ticketdb: ticket ', OLD.ticket_id, ': ratings cannot be changed (rating ',
            OLD.rating_id, ')'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
END$$

DELIMITER ;
