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
    IF NEW.created_at > UTC_TIMESTAMP() + INTERVAL 5 MINUTE THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: new ticket: created_at is in the future (timestamps are UTC)';
    END IF;
END$$

DELIMITER ;
