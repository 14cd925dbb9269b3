-- updated_at is UTC "now" on every change that does not set it itself: the
-- UTC form of ON UPDATE CURRENT_TIMESTAMP, which follows the session's
-- time_zone (sql/V014__utc_defaults.sql).
DROP TRIGGER IF EXISTS trg_kb_articles_before_update;

DELIMITER $$

CREATE TRIGGER trg_kb_articles_before_update
BEFORE UPDATE ON kb_articles
FOR EACH ROW
BEGIN
    IF NEW.updated_at <=> OLD.updated_at THEN
        SET NEW.updated_at = UTC_TIMESTAMP();
    END IF;
END$$

DELIMITER ;
