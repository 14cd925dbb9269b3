-- Every "now" a row gets by default is UTC, whatever the session's time_zone.
-- CURRENT_TIMESTAMP follows the session: a '-05:00' session made an urgent
-- ticket 5 h old at birth, a '+02:00' one a ticket from the future. The
-- rules compare with UTC_TIMESTAMP(), so the defaults must be UTC too.
-- (An expression default needs MySQL 8.0.13+ or MariaDB 10.2+.)
--
-- ON UPDATE CURRENT_TIMESTAMP has no UTC form: conversations and kb_articles
-- get their updated_at from a trigger instead (triggers/).
ALTER TABLE customers
    MODIFY created_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP());

ALTER TABLE agents
    MODIFY created_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP());

ALTER TABLE kb_articles
    MODIFY created_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP()),
    MODIFY updated_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP());

ALTER TABLE service_tickets
    MODIFY created_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP());

ALTER TABLE ticket_logs
    MODIFY action_time DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP());

ALTER TABLE interactions
    MODIFY occurred_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP());

ALTER TABLE conversations
    MODIFY created_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP()),
    MODIFY updated_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP());

ALTER TABLE messages
    MODIFY created_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP());

ALTER TABLE ticket_alerts
    MODIFY created_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP());
