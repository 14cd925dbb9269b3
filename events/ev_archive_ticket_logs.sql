-- Daily at 02:15 UTC, from the setting archive_day_of_month on: moves the log
-- rows older than the live months (setting archive_live_months, the current
-- month included) to their monthly archives (sp_archive_ticket_logs). Once a
-- month's rows have moved, the next days find nothing older and do nothing,
-- so the archive runs monthly; a day missed (server down) is caught up the
-- next day. Both settings live in ticketdb_settings and are read on every
-- run. Does nothing on a read-only server (a replica), so a promoted replica
-- takes over without double runs. A run that finds the previous one still
-- going (its named lock held) skips its turn. Times are UTC: the deployer
-- creates it with time_zone = '+00:00', which the event keeps.
DROP EVENT IF EXISTS ev_archive_ticket_logs;

DELIMITER $$

CREATE EVENT ev_archive_ticket_logs
ON SCHEDULE EVERY 1 DAY
STARTS '2026-01-01 02:15:00'
ON COMPLETION PRESERVE
ENABLE
COMMENT 'Daily at 02:15 UTC: archives months of ticket_logs past the live ones.'
DO
BEGIN
    -- One lock per database and job; at most 64 characters, whatever the name.
    DECLARE v_lock VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT CONCAT(
        'ticketdb.', LEFT(DATABASE(), 24), '.', LEFT(MD5(DATABASE()), 8), '.archive-event'
    );
    DECLARE v_live INT;
    DECLARE v_day INT;
    DECLARE v_before DATE;

    IF @@global.read_only = 0 THEN
        SELECT setting_value INTO v_live
        FROM ticketdb_settings
        WHERE setting_name = 'archive_live_months';
        SELECT setting_value INTO v_day
        FROM ticketdb_settings
        WHERE setting_name = 'archive_day_of_month';
        SET v_before = UTC_DATE() - INTERVAL (COALESCE(v_live, 0) - 1) MONTH;
        IF
            v_live > 0
            AND DAYOFMONTH(UTC_DATE()) >= LEAST(GREATEST(COALESCE(v_day, 1), 1), 28)
            AND EXISTS (
                SELECT 1 FROM ticket_logs
                WHERE action_time < v_before - INTERVAL (DAYOFMONTH(v_before) - 1) DAY
            )
        THEN
            IF GET_LOCK(v_lock, 0) = 1 THEN
                CALL sp_archive_ticket_logs(v_before);
                DO RELEASE_LOCK(v_lock);
            END IF;
        END IF;
    END IF;
END$$

DELIMITER ;
