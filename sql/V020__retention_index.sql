-- sp_apply_retention deletes old alerts by age, in batches: by this index,
-- not by a scan of the whole table.
ALTER TABLE ticket_alerts
    ADD KEY ix_ticket_alerts_created (created_at);
