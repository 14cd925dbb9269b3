DROP FUNCTION IF EXISTS fn_ticket_log_source;

DELIMITER $$

CREATE FUNCTION fn_ticket_log_source(
    in_ticket_id BIGINT UNSIGNED
)
RETURNS TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
READS SQL DATA
SQL SECURITY INVOKER
COMMENT '
Description
-----------
The text of one SELECT that reads a ticket''s whole audit trail: ticket_logs
and every archive (ticket_logs_YYYYMM, listed in ticket_log_archives) that
can hold its rows (months from the ticket''s creation on), joined by
UNION ALL, each part restricted to the ticket (a catalogued archive whose
table is missing is left out). Every table has ticket_logs''
columns in its order. With NULL: every row of every ticket. For procedures
that PREPARE a statement over the trail (sp_ticket_trace,
sp_verify_audit_trail); an unknown ticket gives the live table''s part only.

Parameters
-----------
in_ticket_id (BIGINT UNSIGNED): the ticket, or NULL for all.

Example
-----------
SELECT fn_ticket_log_source(42);
'
BEGIN
    DECLARE v_done BOOLEAN DEFAULT FALSE;
    DECLARE v_since DATE DEFAULT '1000-01-01';
    DECLARE v_where VARCHAR(60) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT '';
    DECLARE v_table VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_sql TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    -- A catalogued archive whose table is gone is left out (so readers still
    -- run); sp_verify_audit_trail reports it.
    DECLARE c_archives CURSOR FOR
        SELECT a.table_name
        FROM ticket_log_archives AS a
        INNER JOIN information_schema.tables AS i
            ON
                i.table_schema = DATABASE()
                AND a.table_name = i.table_name
        WHERE a.archive_month >= v_since
        ORDER BY a.archive_month;
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = TRUE;

    IF in_ticket_id IS NOT NULL THEN
        SET v_where = CONCAT(' WHERE ticket_id = ', in_ticket_id);
        SELECT
            COALESCE(
                MAX(DATE(created_at) - INTERVAL (DAYOFMONTH(created_at) - 1) DAY),
                '9999-12-31'
            )
        INTO v_since
        FROM service_tickets
        WHERE ticket_id = in_ticket_id;
    END IF;

    SET v_sql = CONCAT('SELECT * FROM ticket_logs', v_where);
    OPEN c_archives;
    archives: LOOP
        FETCH c_archives INTO v_table;
        IF v_done THEN
            LEAVE archives;
        END IF;
        SET v_sql = CONCAT(v_sql, ' UNION ALL SELECT * FROM `', v_table, '`', v_where);
    END LOOP;
    CLOSE c_archives;
    RETURN v_sql;
END$$

DELIMITER ;
