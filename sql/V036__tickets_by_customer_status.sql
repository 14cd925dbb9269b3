-- A customer's open tickets from the index alone: the query the Redis
-- cache rebuilds from and the one an application runs on a cache miss
-- (docs/vip-cache.md).
ALTER TABLE service_tickets
    ADD KEY ix_tickets_customer_status (customer_id, current_status);
