DROP PROCEDURE IF EXISTS sp_job_lease_take;

DELIMITER $$

CREATE PROCEDURE sp_job_lease_take (
    IN in_job VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
    IN in_slot DATETIME,
    OUT out_taken INT
)
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Takes (or renews) the lease of one job in ticketdb_job_leases for its
lease_seconds, for this session (fn_job_holder(): host:port#connection), in
one short transaction that it commits. The lease is taken when it is free,
expired (fn_job_clock(), the real UTC time), already this session''s, or
held by a dead session of this same server; and, with in_slot, only when
the schedule period in_slot has not run yet. A holder proves it is alive on
its own server by holding GET_LOCK(beacon), a random name kept in the lease
row only (no role can read it): the server frees it when the session ends
or the server stops, so a holder killed or a server restarted gives the
lease back at once there; other nodes wait for lease_until. On a Galera
cluster the committed lease is certified on every node before the job
runs; a certification conflict (1213) or a lock wait that ran out (1205) on
taking it means someone else has it. Internal: called by sp_run_job and
sp_archive_ticket_logs; no role may call it. Commits (and so ends any
transaction the caller had open).

out_taken: 1 taken (it was not this session''s), 2 renewed (it already was),
0 held by someone else or the period already ran, -1 lost a race for it
(1213 or 1205).

Parameters
-----------
in_job (VARCHAR(64)): the job, a row of ticketdb_job_leases.
in_slot (DATETIME): the start of the schedule period this run is for, or
NULL to take the lease whatever period last ran.
out_taken (INT): the outcome, as above.

Example
-----------
CALL sp_job_lease_take(''generate_alerts'', NULL, @taken);
SELECT @taken;
'
BEGIN
    DECLARE v_holder VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
    DEFAULT fn_job_holder();
    DECLARE v_was VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_old_beacon VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_beacon VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_now DATETIME(6) DEFAULT fn_job_clock();
    DECLARE v_until DATETIME(6);
    DECLARE v_mine BOOLEAN DEFAULT FALSE;
    DECLARE v_dead BOOLEAN DEFAULT FALSE;
    DECLARE v_rows INT DEFAULT 0;
    DECLARE v_locked INT DEFAULT 0;
    -- A lock wait that ran out, or a certification conflict (Galera).
    DECLARE EXIT HANDLER FOR 1205
    BEGIN
        ROLLBACK;
        IF v_locked = 1 THEN
            DO RELEASE_LOCK(v_beacon);
        END IF;
        SET out_taken = -1;
    END;
    DECLARE EXIT HANDLER FOR 1213
    BEGIN
        ROLLBACK;
        IF v_locked = 1 THEN
            DO RELEASE_LOCK(v_beacon);
        END IF;
        SET out_taken = -1;
    END;

    SET out_taken = 0;
    SET v_beacon = CONCAT('ticketdb.lease.', MD5(CONCAT(RAND(), v_holder, v_now)));
    START TRANSACTION;
    SELECT
        MAX(holder) AS holder,
        MAX(lease_until) AS lease_until,
        MAX(beacon) AS beacon
    INTO v_was, v_until, v_old_beacon
    FROM ticketdb_job_leases
    WHERE job = in_job
    FOR UPDATE;
    SET v_mine = COALESCE(v_was = v_holder AND v_until >= v_now, FALSE);
    BEGIN
        -- A server that refuses user locks (MariaDB 10.6.13 and 10.11.3 on
        -- Galera: 1235) leaves beacons out: leases then end by lease_until.
        DECLARE CONTINUE HANDLER FOR 1235 SET v_locked = 0;
        -- A holder on this server whose beacon is free has died (or the
        -- server restarted since); a holder on another node, or one without
        -- a beacon, is only known by lease_until.
        IF
            v_was <> v_holder AND v_old_beacon IS NOT NULL
            AND SUBSTRING_INDEX(v_was, '#', 1) = SUBSTRING_INDEX(v_holder, '#', 1)
        THEN
            SET v_dead = IS_USED_LOCK(v_old_beacon) IS NULL;
        END IF;
        IF NOT v_mine THEN
            SET v_locked = GET_LOCK(v_beacon, 0);
        END IF;
    END;
    UPDATE ticketdb_job_leases
    SET
        holder = v_holder,
        lease_until = v_now + INTERVAL lease_seconds SECOND,
        beacon = IF(v_mine, v_old_beacon, IF(v_locked = 1, v_beacon, NULL)),
        slot_start = COALESCE(in_slot, slot_start),
        taken_at = IF(v_mine, taken_at, v_now),
        takes = takes + 1
    WHERE
        job = in_job
        AND (lease_until < v_now OR holder = v_holder OR v_dead)
        AND (in_slot IS NULL OR slot_start IS NULL OR slot_start < in_slot);
    SET v_rows = ROW_COUNT();
    COMMIT;
    IF v_locked = 1 AND (v_rows = 0 OR v_mine) THEN
        DO RELEASE_LOCK(v_beacon);
    ELSEIF v_rows = 1 AND v_was = v_holder AND v_old_beacon IS NOT NULL THEN
        DO RELEASE_LOCK(v_old_beacon);  -- this session's own lease had expired
    END IF;
    SET out_taken = IF(v_rows = 0, 0, IF(v_mine, 2, 1));
END$$

DELIMITER ;
