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
one short transaction that it commits: the lease is taken when it is free,
expired (fn_job_clock(), the real UTC time), or already this session''s,
and, with in_slot, when the schedule period in_slot has not run yet. On a
Galera cluster the committed lease is certified on every node before the
job runs; a certification conflict (1213) or a lock wait that ran out
(1205) on taking it means someone else has it. Internal: called by
sp_run_job and sp_archive_ticket_logs; no role may call it. Commits (and so
ends any transaction the caller had open).

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
    DECLARE v_now DATETIME(6) DEFAULT fn_job_clock();
    DECLARE v_mine BOOLEAN DEFAULT FALSE;
    DECLARE v_rows INT DEFAULT 0;
    DECLARE EXIT HANDLER FOR 1205, 1213
    BEGIN
        ROLLBACK;
        SET out_taken = -1;
    END;

    SET out_taken = 0;
    START TRANSACTION;
    SELECT COALESCE(MAX(holder = v_holder AND lease_until >= v_now), FALSE) INTO v_mine
    FROM ticketdb_job_leases
    WHERE job = in_job
    FOR UPDATE;
    UPDATE ticketdb_job_leases
    SET
        holder = v_holder,
        lease_until = v_now + INTERVAL lease_seconds SECOND,
        slot_start = COALESCE(in_slot, slot_start),
        taken_at = IF(v_mine, taken_at, v_now),
        takes = takes + 1
    WHERE
        job = in_job
        AND (lease_until < v_now OR holder = v_holder)
        AND (in_slot IS NULL OR slot_start IS NULL OR slot_start < in_slot);
    SET v_rows = ROW_COUNT();
    COMMIT;
    SET out_taken = IF(v_rows = 0, 0, IF(v_mine, 2, 1));
END$$

DELIMITER ;
