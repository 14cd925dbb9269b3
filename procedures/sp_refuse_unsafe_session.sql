-- Hostile sessions (issue 20, docs/security.md): a procedure runs under the
-- CALLER's session, so what a login can SET is a way around a rule. Every
-- procedure a role may call calls this first. (The triggers make the same
-- checks inline: a CALL in a trigger makes every statement that fires it
-- prelock this routine, which cost the flow trigger about half again.)
--
-- * foreign_key_checks = 0, unique_checks = 0 and, on MariaDB,
--   check_constraint_checks = 0 (MySQL has no such switch; the /*M! */
--   comment is read by MariaDB only, so the file runs on both);
-- * a moved clock. SET timestamp moves NOW(), UTC_TIMESTAMP() and
--   CURRENT_TIMESTAMP defaults, not SYSDATE(). Inside a procedure NOW() is
--   the current statement's start, so in an honest session the two agree
--   to the second; the procedure refuses otherwise and may then trust
--   UTC_TIMESTAMP() for the rest of its run. (Triggers cannot use this
--   test: there NOW() is the start of the triggering statement, which may
--   run for minutes. They take "now" from SYSDATE() instead.)
--
-- A procedure runs under its own sql_mode (strict), so the caller's does
-- not matter here.
DROP PROCEDURE IF EXISTS sp_refuse_unsafe_session;

DELIMITER $$

CREATE PROCEDURE sp_refuse_unsafe_session (
    IN in_object VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
)
READS SQL DATA
SQL SECURITY DEFINER
COMMENT '
Description
-----------
Internal: refuses (SQLSTATE 45000, a ticketdb: message naming the setting)
to go on in a session that weakens a rule: foreign_key_checks = 0,
unique_checks = 0, check_constraint_checks = 0 (MariaDB), or a clock moved
by SET timestamp (NOW() and SYSDATE() more than a second apart). Does
nothing in a sound session. Every procedure a role may call calls it first;
every role holds EXECUTE on it (the SQL SECURITY INVOKER reports need that).

Parameters
-----------
in_object (VARCHAR(64)): the calling procedure, for the message.

Example
-----------
CALL sp_refuse_unsafe_session(''sp_assign_ticket'');
'
BEGIN
    DECLARE v_setting VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

    SET v_setting = CASE
        WHEN @@session.foreign_key_checks = 0 THEN 'foreign_key_checks = 0'
        WHEN @@session.unique_checks = 0 THEN 'unique_checks = 0'
        /*M!100200 WHEN @@session.check_constraint_checks = 0
            THEN 'check_constraint_checks = 0' */
        WHEN ABS(TIMESTAMPDIFF(SECOND, NOW(), SYSDATE())) > 1
            THEN CONCAT('a moved clock (SET timestamp): NOW() is ', NOW())
    END;
    IF v_setting IS NOT NULL THEN
        SET v_message = LEFT(CONCAT('ticketdb: ', in_object, ': refused under ', v_setting), 128);
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
END$$

DELIMITER ;
