-- How the status flow tells the guard on service_tickets "this UPDATE is
-- mine". While the flow trigger moves a ticket, it holds one row here for
-- its own connection (CONNECTION_ID()) naming that ticket, and deletes it
-- in the same statement, so the mark never outlives the statement that
-- wrote it: a failed or killed statement rolls it back with everything else.
--
-- No role has any privilege on this table: only the triggers (running as
-- their definer) write it, so no session can forge a mark. Session
-- variables (@...) were used before; any login can set those.
-- Never grant CREATE TEMPORARY TABLES on this database to an application
-- account: a temporary table of this name would shadow it.
CREATE TABLE ticketdb_flow_marks (
    connection_id BIGINT UNSIGNED NOT NULL,
    ticket_id BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (connection_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
