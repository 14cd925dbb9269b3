-- Daily at 04:00 UTC: seals the audit trail (sp_seal_audit_trail), so that
-- sp_verify_audit_trail can report any ticket, row or archive removed or
-- changed since. Does nothing on a read-only server (a replica), so a
-- promoted replica takes over without double runs. A run that finds the
-- previous one still going (its named lock held) skips its turn. Times are
-- UTC: the deployer creates it with time_zone = '+00:00', which the event
-- keeps.
DROP EVENT IF EXISTS ev_seal_audit_trail;

DELIMITER $$

CREATE EVENT ev_seal_audit_trail
ON SCHEDULE EVERY 1 DAY
STARTS '2026-01-01 04:00:00'
ON COMPLETION PRESERVE
ENABLE
COMMENT 'Daily at 04:00 UTC: seals the audit trail (sp_seal_audit_trail).'
DO
BEGIN
    -- One lock per database and job; at most 64 characters, whatever the name.
    DECLARE v_lock VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT CONCAT(
        'ticketdb.', LEFT(DATABASE(), 24), '.', LEFT(MD5(DATABASE()), 8), '.seal'
    );
    IF @@global.read_only = 0 THEN
        IF GET_LOCK(v_lock, 0) = 1 THEN
            CALL sp_seal_audit_trail();
            DO RELEASE_LOCK(v_lock);
        END IF;
    END IF;
END$$

DELIMITER ;
