-- Rules applied by sp_escalate_priorities; NULL only_status means any open status.
CREATE TABLE escalation_rules (
    rule_id INT UNSIGNED NOT NULL AUTO_INCREMENT,
    from_priority ENUM('urgent', 'high', 'medium', 'low') NOT NULL,
    to_priority ENUM('urgent', 'high', 'medium', 'low') NOT NULL,
    min_age_minutes INT UNSIGNED NOT NULL,
    only_status ENUM('pending', 'in_progress', 'waiting_customer') NULL,
    only_unassigned BOOLEAN NOT NULL DEFAULT FALSE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    description VARCHAR(255) NULL,
    PRIMARY KEY (rule_id),
    -- ENUM order: urgent < high < medium < low, so a raise has a smaller index
    CONSTRAINT chk_escalation_rules_raises CHECK (to_priority + 0 < from_priority + 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- The shipped rule: medium tickets nobody has picked up for a day become high.
INSERT INTO escalation_rules (
    from_priority, to_priority, min_age_minutes, only_status, only_unassigned, description
) VALUES (
    'medium', 'high', 1440, 'pending', TRUE,
    'pending, unassigned medium tickets older than 24 h become high'
);
