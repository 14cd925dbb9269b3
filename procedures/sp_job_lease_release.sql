DROP PROCEDURE IF EXISTS sp_job_lease_release;

DELIMITER $$

CREATE PROCEDURE sp_job_lease_release (
    IN in_job VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
)
MODIFIES SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Gives back this session''s lease of one job (ticketdb_job_leases), in one
short transaction that it commits; a lease another session holds is left
alone. The period the run was for stays recorded (slot_start), so no other
node runs it again. A lost race (1213, 1205) is ignored: the lease expires
on its own. Internal: called by sp_run_job and sp_archive_ticket_logs; no
role may call it.

Parameters
-----------
in_job (VARCHAR(64)): the job, a row of ticketdb_job_leases.

Example
-----------
CALL sp_job_lease_release(''generate_alerts'');
'
BEGIN
    DECLARE EXIT HANDLER FOR 1205, 1213
    BEGIN
        ROLLBACK;
    END;

    START TRANSACTION;
    UPDATE ticketdb_job_leases
    SET
        holder = NULL,
        lease_until = '1970-01-01 00:00:00.000000'
    WHERE job = in_job AND holder = fn_job_holder();
    COMMIT;
END$$

DELIMITER ;
