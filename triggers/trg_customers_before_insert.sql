-- Customers on insert: the email is trimmed, the phone is stored normalised (spaces, dots, dashes
-- and parentheses removed; a leading + kept), and a new customer's email must be unique in that
-- form (the unique key on email_normalized with email_conflict 0 refuses a
-- second one).
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_customers_before_insert;

DELIMITER $$

CREATE TRIGGER trg_customers_before_insert
BEFORE INSERT ON customers
FOR EACH ROW
BEGIN
    SET NEW.email = TRIM(NEW.email);
    IF NEW.phone IS NOT NULL THEN
        SET NEW.phone = REGEXP_REPLACE(TRIM(NEW.phone), '[ ().-]', '');
    END IF;
    SET NEW.email_conflict = 0;
END$$

DELIMITER ;
