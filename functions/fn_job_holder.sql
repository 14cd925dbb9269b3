DROP FUNCTION IF EXISTS fn_job_holder;

DELIMITER $$

CREATE FUNCTION fn_job_holder()
RETURNS VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
NOT DETERMINISTIC
NO SQL
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Who holds a job lease: this server (host name and port) and this session''s
CONNECTION_ID(), as ''host:port#connection''. CONNECTION_ID() alone is not
enough on a cluster (every node numbers its own connections); host and port
tell the nodes apart, also when several run on one machine. The part before
''#'' is the node, written to ticketdb_job_runs.node.

Parameters
-----------
None.

Example
-----------
SELECT fn_job_holder();
'
BEGIN
    RETURN CONCAT(@@hostname, ':', @@port, '#', CONNECTION_ID());
END$$

DELIMITER ;
