-- Status, priority, assignee and the flow's timestamps change only through
-- the status flow (a row in ticket_logs); a direct UPDATE of them is refused.
-- Subject, description and category stay editable. The batch UPDATE of
-- sp_escalate_priorities passes while its marker is set: it may only raise the
-- priority and stamp last_action_at, and it logs every row it raises.
--
-- The three cases are tested one after another, so that the flow's own
-- UPDATE (one short test) and the escalation batch (a few) stay cheap: the
-- server re-prepares every expression a trigger runs, row by row.
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_service_tickets_before_update;

DELIMITER $$

CREATE TRIGGER trg_service_tickets_before_update
BEFORE UPDATE ON service_tickets
FOR EACH ROW
BEGIN
    DECLARE v_message VARCHAR(128);
    IF NOT (@ticketdb_flow_ticket <=> OLD.ticket_id) THEN
        IF @ticketdb_flow_escalation IS NOT NULL THEN
            -- sp_escalate_priorities' batch
            IF NOT (
                NEW.priority + 0 < OLD.priority + 0
                AND NEW.last_action_at <=> @ticketdb_flow_escalation
                AND NEW.current_status = OLD.current_status
                AND NEW.assigned_agent_id <=> OLD.assigned_agent_id
            ) THEN
                SET v_message = CONCAT(
                    'ticketdb: ticket ', OLD.ticket_id,
                    ': escalation may only raise the priority'
                );
            END IF;
        ELSEIF
            NEW.ticket_id <> OLD.ticket_id
            OR NEW.current_status <> OLD.current_status
            OR NEW.priority <> OLD.priority
            OR NOT (NEW.assigned_agent_id <=> OLD.assigned_agent_id)
            OR NEW.created_at <> OLD.created_at
            OR NOT (NEW.last_action_at <=> OLD.last_action_at)
            OR NOT (NEW.first_response_at <=> OLD.first_response_at)
            OR NOT (NEW.resolved_at <=> OLD.resolved_at)
            OR NOT (NEW.closed_at <=> OLD.closed_at)
            OR NOT (NEW.waiting_since <=> OLD.waiting_since)
            OR NEW.paused_minutes <> OLD.paused_minutes
        THEN
            SET v_message = CONCAT(
                'ticketdb: ticket ', OLD.ticket_id,
                ': status, priority and assignee change only through ticket_logs'
            );
        END IF;
        IF v_message IS NOT NULL THEN
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
        END IF;
    END IF;
END$$

DELIMITER ;
