-- Settings a DBA may change with a plain UPDATE; the procedures and events
-- read them on every run.
CREATE TABLE ticketdb_settings (
    setting_name VARCHAR(64) NOT NULL,
    setting_value INT NOT NULL,
    description VARCHAR(255) NOT NULL,
    PRIMARY KEY (setting_name),
    CONSTRAINT chk_ticketdb_settings_value CHECK (setting_value >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

INSERT INTO ticketdb_settings (setting_name, setting_value, description) VALUES
(
    'alert_retention_days', 90,
    'ticket_alerts rows older than this many days are deleted daily'
),
(
    'urgent_snapshot_retention_days', 365,
    'daily_urgent_tickets snapshots older than this many days are deleted daily'
);
