-- A new ticket starts pending and unassigned, with no flow timestamps: every
-- later move goes through ticket_logs, so the audit trail is complete. Its
-- hash chain starts empty (log_head NULL, log_seq and log_seq_v025 0).
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_service_tickets_before_insert;

DELIMITER $$

CREATE TRIGGER trg_service_tickets_before_insert
BEFORE INSERT ON service_tickets
FOR EACH ROW
BEGIN
    DECLARE v_session_error VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    -- Hostile sessions (docs/security.md): a chosen or changed ticket_id, warnings
    -- before the rules ran (weak sql_mode, IGNORE) or a weakening switch is
    -- refused, naming it (inline: see trg_ticket_logs_before_insert).
    IF
        NEW.ticket_id <> 0 OR @@warning_count > 0 OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        SET v_session_error = LEFT(CONCAT(
            'ticketdb: ', 'service_tickets', ': ',
            CASE
                WHEN NEW.ticket_id <> 0
                    THEN
                        CONCAT(
                            'ticket_id is chosen by the server, not the client (got ',
                            NEW.ticket_id, ')'
                        )
                WHEN @@warning_count > 0
                    THEN
                        CONCAT(
                            'refused: the statement raised ', @@warning_count,
                            ' warning(s) before the rules ran (sql_mode not strict, or IGNORE)'
                        )
                WHEN @@session.max_error_count = 0 THEN 'refused under max_error_count = 0'
                WHEN @@session.foreign_key_checks = 0
                    THEN 'refused under foreign_key_checks = 0'
                WHEN @@session.unique_checks = 0 THEN 'refused under unique_checks = 0'
                ELSE 'refused under check_constraint_checks = 0'
            END
        ), 128);
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_session_error;
    END IF;
    -- A defaulted created_at is the session's UTC_TIMESTAMP(), which SET timestamp
    -- moves: it becomes the real time (SYSDATE() in UTC).
    IF NEW.created_at = UTC_TIMESTAMP() THEN
        SET NEW.created_at = CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00');
    END IF;
    IF
        NEW.current_status <> 'pending'
        OR NEW.assigned_agent_id IS NOT NULL
        OR NEW.first_response_at IS NOT NULL
        OR NEW.resolved_at IS NOT NULL
        OR NEW.closed_at IS NOT NULL
        OR NEW.waiting_since IS NOT NULL
        OR NEW.last_action_at IS NOT NULL
        OR NEW.paused_minutes <> 0
        OR NEW.reopen_count <> 0
        OR NEW.log_head IS NOT NULL
        OR NEW.log_seq <> 0
        OR NEW.log_seq_v025 <> 0 THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: new ticket: must start pending and unassigned; move it with ticket_logs';
    END IF;
    IF
        NEW.created_at > CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00') + INTERVAL 5 MINUTE
    THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: new ticket: created_at is in the future (timestamps are UTC)';
    END IF;
END$$

DELIMITER ;
