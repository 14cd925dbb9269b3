-- A sealed trail. The hash chain lives on the ticket row (log_seq,
-- log_head): an admin who removes a ticket with all its live and archived
-- rows leaves nothing to check. sp_seal_audit_trail records, append-only:
--
--   audit_seals          one row per seal: counts, the digest of the sealed
--                        state, and seal_hash, chained to the previous seal
--                        (fn_audit_seal_hash), so a seal exported elsewhere
--                        vouches for every seal before it;
--   audit_seal_tickets   a ticket's (log_seq, log_head) each time a seal finds
--                        it grown since its last entry: the sealed state is
--                        every ticket's latest entry (a daily seal writes the
--                        tickets that moved that day, not all of them);
--   audit_seal_archives  every archive's catalogued row count at each seal.
--
-- sp_verify_audit_trail then reports any sealed ticket, row or archive that
-- is gone or changed. No role writes these tables (ticketdb/roles.py); the
-- guards (triggers/trg_audit_seal*_before_update/delete) refuse UPDATE and
-- DELETE to everyone. No foreign keys: a seal must outlive what it seals.
CREATE TABLE audit_seals (
    seal_id BIGINT UNSIGNED NOT NULL,
    sealed_at DATETIME NOT NULL,
    sealed_by VARCHAR(300) NOT NULL,
    tickets BIGINT UNSIGNED NOT NULL,
    log_rows BIGINT UNSIGNED NOT NULL,
    archives INT UNSIGNED NOT NULL,
    state_digest BINARY(32) NOT NULL,
    prev_seal_hash BINARY(32) NULL,
    seal_hash BINARY(32) NOT NULL,
    PRIMARY KEY (seal_id),
    UNIQUE KEY uq_audit_seals_hash (seal_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE audit_seal_tickets (
    ticket_id BIGINT UNSIGNED NOT NULL,
    seal_id BIGINT UNSIGNED NOT NULL,
    log_seq INT UNSIGNED NOT NULL,
    log_head BINARY(32) NULL,
    PRIMARY KEY (ticket_id, seal_id),
    KEY ix_audit_seal_tickets_seal (seal_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE audit_seal_archives (
    seal_id BIGINT UNSIGNED NOT NULL,
    table_name VARCHAR(64) NOT NULL,
    rows_archived BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (seal_id, table_name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Part of the data format, like fn_ticket_log_hash: created once, here.
DROP FUNCTION IF EXISTS fn_audit_seal_hash;

CREATE FUNCTION fn_audit_seal_hash(
    in_prev_hash BINARY(32),
    in_seal_id BIGINT UNSIGNED,
    in_sealed_at DATETIME,
    in_sealed_by VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci,
    in_tickets BIGINT UNSIGNED,
    in_log_rows BIGINT UNSIGNED,
    in_archives INT UNSIGNED,
    in_state_digest BINARY(32)
)
RETURNS BINARY(32)
DETERMINISTIC
NO SQL
SQL SECURITY INVOKER
COMMENT '
Description
-----------
The hash of one audit_seals row: SHA-256 over the previous seal''s
seal_hash (NULL for the first seal) and the seal''s columns, each QUOTE()d
and joined by commas. sp_seal_audit_trail stores it in seal_hash;
sp_verify_audit_trail recomputes every seal''s. Part of the data format:
never re-created with another body.

Parameters
-----------
in_prev_hash (BINARY(32)): seal_hash of the seal before, or NULL.
in_seal_id .. in_state_digest: the seal''s columns, as stored.

Example
-----------
SELECT HEX(fn_audit_seal_hash(NULL, 1, ''2026-12-01 03:30:00'', ''app@%'',
    10, 52, 0, UNHEX(SHA2('''', 256))));
'
    RETURN UNHEX(SHA2(CONCAT_WS(
        ',',
        QUOTE(HEX(in_prev_hash)),
        QUOTE(in_seal_id),
        QUOTE(in_sealed_at),
        QUOTE(in_sealed_by),
        QUOTE(in_tickets),
        QUOTE(in_log_rows),
        QUOTE(in_archives),
        QUOTE(HEX(in_state_digest))
    ), 256));
