DROP PROCEDURE IF EXISTS sp_caller_transaction_open;

DELIMITER $$

CREATE PROCEDURE sp_caller_transaction_open (
    OUT out_open BOOLEAN
)
NO SQL
SQL SECURITY INVOKER
COMMENT '
Description
-----------
Tells a procedure whether its caller has a transaction open (START
TRANSACTION, BEGIN, or autocommit off after a statement that read or wrote
a table). MariaDB has @@in_transaction, MySQL 8 has not; both refuse SET
TRANSACTION inside an open transaction with error 1568, so that is the
test. Outside a transaction it only sets the next transaction''s access mode
to READ WRITE, the default, which the procedures that call this then start.
Internal: the per-ticket procedures use it to work inside the caller''s
transaction (savepoint, no COMMIT) or in their own (with retries), and the
batch jobs to refuse to run inside one. No role may call it.

Parameters
-----------
out_open (BOOLEAN): TRUE when a transaction is open.

Example
-----------
CALL sp_caller_transaction_open(@open);
SELECT @open;
'
BEGIN
    SET out_open = FALSE;
    BEGIN
        DECLARE EXIT HANDLER FOR 1568 SET out_open = TRUE;
        SET TRANSACTION READ WRITE;
    END;
END$$

DELIMITER ;
