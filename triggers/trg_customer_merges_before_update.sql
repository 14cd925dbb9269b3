-- customer_merges is append-only: a UPDATE of a merge record is refused.
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_customer_merges_before_update;

DELIMITER $$

CREATE TRIGGER trg_customer_merges_before_update
BEFORE UPDATE ON customer_merges
FOR EACH ROW
BEGIN
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    SET v_message = CONCAT(
        'ticketdb: customer_merges is append-only (merge ', OLD.merge_id,
        ' cannot be changed)'
    );
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
END$$

DELIMITER ;
