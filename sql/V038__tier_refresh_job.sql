-- The daily tier refresh (ev_refresh_customer_tiers, V034-V035) runs through
-- sp_run_job like every job (V032): it needs its lease row.
INSERT INTO ticketdb_job_leases (job, lease_seconds, description) VALUES
(
    'refresh_customer_tiers', 3600,
    'ev_refresh_customer_tiers: CALL sp_refresh_customer_tiers()'
);
