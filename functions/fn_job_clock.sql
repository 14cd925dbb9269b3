DROP FUNCTION IF EXISTS fn_job_clock;

DELIMITER $$

CREATE FUNCTION fn_job_clock()
RETURNS DATETIME(6)
NOT DETERMINISTIC
NO SQL
SQL SECURITY DEFINER
COMMENT '
Description
-----------
The server''s real time in UTC, for the job leases and ticketdb_job_runs:
SYSDATE(6) (the wall clock, which SET timestamp does not move) turned into
seconds since the epoch and back without the session''s time_zone, so no
session setting moves it. (A server started with --sysdate-is-now would let
SET timestamp move it: do not use that option.)

Parameters
-----------
None.

Example
-----------
SELECT fn_job_clock();
'
BEGIN
    RETURN CAST('1970-01-01 00:00:00' AS DATETIME(6))
    + INTERVAL ROUND(UNIX_TIMESTAMP(SYSDATE(6)) * 1000000) MICROSECOND;
END$$

DELIMITER ;
