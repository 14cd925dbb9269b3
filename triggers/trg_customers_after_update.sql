-- Customers after update: every change of tier or tier_source is recorded in
-- customer_tier_changes: old and new, when, the login that made it
-- (SESSION_USER(): the event's definer for the daily refresh) and why
-- (tier_reason as the UPDATE set it; an UPDATE that changed the tier without
-- a new reason is recorded as a direct change). One mechanism for the
-- refresh, the override procedure and a DBA's UPDATE by hand, so no change
-- goes unrecorded.
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_customers_after_update;

DELIMITER $$

CREATE TRIGGER trg_customers_after_update
AFTER UPDATE ON customers
FOR EACH ROW
BEGIN
    IF NOT (NEW.tier <=> OLD.tier) OR NOT (NEW.tier_source <=> OLD.tier_source) THEN
        INSERT INTO customer_tier_changes (
            customer_id, old_tier, new_tier, old_source, new_source, reason, changed_by
        ) VALUES (
            NEW.customer_id, OLD.tier, NEW.tier, OLD.tier_source, NEW.tier_source,
            CASE
                WHEN NEW.tier_reason IS NULL OR NEW.tier_reason <=> OLD.tier_reason
                    THEN 'changed directly (UPDATE customers), no reason given'
                ELSE NEW.tier_reason
            END,
            SESSION_USER()
        );
    END IF;
END$$

DELIMITER ;
