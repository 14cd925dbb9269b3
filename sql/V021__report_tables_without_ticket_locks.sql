-- ticket_alerts and daily_urgent_tickets are derived report rows. Their
-- foreign keys to service_tickets made every alert or snapshot row take a
-- shared lock on its ticket until the pass committed (InnoDB checks a
-- parent row with a lock, whatever the isolation level), so a move of an
-- overdue ticket waited for the alert pass. Tickets are never deleted
-- through the product (no role may), and sp_apply_retention removes old
-- report rows, so the keys go; the ticket_id indexes stay.
ALTER TABLE ticket_alerts
    DROP FOREIGN KEY fk_ticket_alerts_ticket;

ALTER TABLE daily_urgent_tickets
    DROP FOREIGN KEY fk_daily_urgent_ticket;
