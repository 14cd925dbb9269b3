-- Hostile sessions (issue 20, docs/security.md): a trigger or routine runs
-- under the CALLER's session, so everything a login can SET is a way around
-- a rule. Every trigger on a table a role writes, and every procedure a role
-- may call, calls this first (triggers only when their one cheap combined
-- test found something, so the hot path pays a few comparisons):
--
-- * a surrogate key the client named (NEW.<id> <> 0): AUTO_INCREMENT keys
--   are the server's; an explicit MAX value stops every later insert (1467);
-- * warnings raised before the rules ran: a trigger runs under its own
--   (strict) sql_mode and cannot read the caller's, but whatever a weak
--   sql_mode or INSERT/UPDATE IGNORE did to the row (an unknown ENUM stored
--   as '', a truncated string, a NULL made 0, a bad date made zero) raised a
--   warning first, and @@warning_count shows it; max_error_count = 0 hides
--   them, so it is refused too;
-- * foreign_key_checks = 0, unique_checks = 0 and, on MariaDB,
--   check_constraint_checks = 0 (MySQL has no such switch; the /*M! */
--   comment is read by MariaDB only, so the file runs on both);
-- * for procedures (in_check_clock): a moved clock. SET timestamp moves
--   NOW(), UTC_TIMESTAMP() and CURRENT_TIMESTAMP defaults, not SYSDATE().
--   Inside a procedure NOW() is the current statement's start, so an honest
--   session has them within a second; a procedure refuses otherwise and may
--   then trust UTC_TIMESTAMP() for the rest of its run. Triggers cannot use
--   this test (NOW() is the start of the triggering statement, which may run
--   for minutes): they take "now" from SYSDATE() instead.
DROP PROCEDURE IF EXISTS sp_refuse_unsafe_session;

DELIMITER $$

CREATE PROCEDURE sp_refuse_unsafe_session (
    IN in_object VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
    IN in_key_column VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
    IN in_key_value BIGINT UNSIGNED,
    IN in_warnings INT UNSIGNED,
    IN in_check_clock BOOLEAN
)
READS SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Internal: refuses (SQLSTATE 45000, ticketdb: message naming the setting) a
write made under a session setting that weakens a rule: a surrogate key
named by the client, warnings before the rules ran (non-strict sql_mode,
IGNORE), max_error_count = 0, foreign_key_checks = 0, unique_checks = 0,
check_constraint_checks = 0 (MariaDB), and, when asked, a clock moved by
SET timestamp. Does nothing when the session is sound. Called by the
triggers and procedures; no role may call it directly.

Parameters
-----------
in_object (VARCHAR(64)): what is refused, for the message (a table, a
procedure, or ''ticket 42'').
in_key_column (VARCHAR(64)): the AUTO_INCREMENT column, or NULL.
in_key_value (BIGINT UNSIGNED): NEW.<key column> (0: the server chooses).
in_warnings (INT UNSIGNED): @@warning_count as the trigger saw it (0 in
procedures).
in_check_clock (BOOLEAN): also refuse a session clock that differs from
SYSDATE() by more than a second.

Example
-----------
CALL sp_refuse_unsafe_session(''sp_assign_ticket'', NULL, 0, 0, TRUE);
'
BEGIN
    DECLARE v_setting VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

    IF in_key_column IS NOT NULL AND in_key_value <> 0 THEN
        SET v_message = LEFT(CONCAT(
            'ticketdb: ', in_object, ': ', in_key_column, ' is chosen by the server, ',
            'not the client (got ', in_key_value, ')'
        ), 128);
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;

    SET v_setting = CASE
        WHEN in_warnings > 0
            THEN
                CONCAT(
                    ': the statement raised ', in_warnings, ' warning(s) before the rules ran ',
                    '(sql_mode not strict, or IGNORE)'
                )
        WHEN @@session.max_error_count = 0 THEN ' under max_error_count = 0'
        WHEN @@session.foreign_key_checks = 0 THEN ' under foreign_key_checks = 0'
        WHEN @@session.unique_checks = 0 THEN ' under unique_checks = 0'
        /*M!100200 WHEN @@session.check_constraint_checks = 0
            THEN ' under check_constraint_checks = 0' */
        WHEN in_check_clock AND ABS(TIMESTAMPDIFF(SECOND, NOW(), SYSDATE())) > 1
            THEN CONCAT(' under a moved clock (SET timestamp): NOW() is ', NOW())
    END;
    IF v_setting IS NOT NULL THEN
        SET v_message = LEFT(CONCAT('ticketdb: ', in_object, ': refused', v_setting), 128);
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
END$$

DELIMITER ;
