-- Which alert a ticket has had for its current deadline: 0 none, 1 due_soon,
-- 2 overdue. sp_generate_alerts raises it after writing an alert, and the
-- flow sets it back to 0 whenever the deadline moves (escalate, resume).
-- The index lets a run read only the tickets that still need an alert, so
-- its cost follows what changed, not the size of the overdue backlog.
ALTER TABLE service_tickets
    ADD COLUMN alert_stage TINYINT UNSIGNED NOT NULL DEFAULT 0,
    ADD KEY ix_tickets_alert_stage (current_status, alert_stage, deadline),
    ADD CONSTRAINT chk_tickets_alert_stage CHECK (alert_stage <= 2);
