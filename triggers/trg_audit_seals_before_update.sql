-- audit_seals is append-only (V031, the sealed audit trail):
-- any UPDATE is refused, to every account. An admin who drops this guard to
-- rewrite a seal breaks the seals' hash chain, which sp_verify_audit_trail
-- and a copy exported elsewhere (docs/audit-trail.md) catch.
DROP TRIGGER IF EXISTS trg_audit_seals_before_update;

DELIMITER $$

CREATE TRIGGER trg_audit_seals_before_update
BEFORE UPDATE ON audit_seals
FOR EACH ROW
BEGIN
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    SET v_message = CONCAT(
        'ticketdb: seal ', OLD.seal_id, ': audit_seals is append-only (cannot update)'
    );
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
END$$

DELIMITER ;
