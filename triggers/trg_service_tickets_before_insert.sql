-- A new ticket starts pending and unassigned, with no flow timestamps: every
-- later move goes through ticket_logs, so the audit trail is complete. Its
-- hash chain starts empty (log_head NULL).
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_service_tickets_before_insert;

DELIMITER $$

CREATE TRIGGER trg_service_tickets_before_insert
BEFORE INSERT ON service_tickets
FOR EACH ROW
BEGIN
    -- Hostile sessions (docs/security.md): a chosen or changed ticket_id, warnings
    -- before the rules ran (weak sql_mode, IGNORE) or a weakening switch is
    -- refused by sp_refuse_unsafe_session, which names it.
    IF
        NEW.ticket_id <> 0 OR @@warning_count > 0 OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        CALL sp_refuse_unsafe_session(
            'service_tickets', 'ticket_id', NEW.ticket_id,
            @@warning_count, FALSE
        );
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
        OR NEW.log_head IS NOT NULL THEN
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
