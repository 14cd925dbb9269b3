-- Customers on update: the email is trimmed, the phone is stored normalised (spaces, dots, dashes
-- and parentheses removed; a leading + kept), and a changed email must be unique in that form;
-- email_conflict is kept by this trigger, never set by a client.
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_customers_before_update;

DELIMITER $$

CREATE TRIGGER trg_customers_before_update
BEFORE UPDATE ON customers
FOR EACH ROW
BEGIN
    SET NEW.email = TRIM(NEW.email);
    IF NEW.phone IS NOT NULL THEN
        SET NEW.phone = REGEXP_REPLACE(TRIM(NEW.phone), '[ ().-]', '');
    END IF;
    IF NOT (NEW.email <=> OLD.email) THEN
        SET NEW.email_conflict = 0;
    ELSE
        SET NEW.email_conflict = OLD.email_conflict;
    END IF;
END$$

DELIMITER ;
