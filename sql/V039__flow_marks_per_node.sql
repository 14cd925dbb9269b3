-- Flow marks keyed by node as well as connection. CONNECTION_ID() numbers
-- the connections of one server: on a Galera cluster two nodes' sessions
-- with the same id wrote the same mark row, and certification aborted one
-- of two unrelated moves (1213) although the mark never outlives its
-- statement. The node is CRC32(CONCAT(@@hostname, ':', @@port)), cheap to
-- compute in the hot trigger and the same for every session of one server.
-- The table is empty outside a statement, so the change is instant.
ALTER TABLE ticketdb_flow_marks
    ADD COLUMN node_key INT UNSIGNED NOT NULL DEFAULT 0 FIRST,
    DROP PRIMARY KEY,
    ADD PRIMARY KEY (node_key, connection_id);
