-- Every merge of two customers (sp_merge_customers): who was kept, who was
-- removed and what they were, what moved, who merged and when. Append-only:
-- triggers refuse UPDATE and DELETE.
CREATE TABLE customer_merges (
    merge_id INT UNSIGNED NOT NULL AUTO_INCREMENT,
    kept_customer_id INT UNSIGNED NOT NULL,
    dropped_customer_id INT UNSIGNED NOT NULL,
    dropped_name VARCHAR(200) NOT NULL,
    dropped_email VARCHAR(254) NOT NULL,
    dropped_phone VARCHAR(32) NULL,
    tickets_moved INT UNSIGNED NOT NULL,
    interactions_moved INT UNSIGNED NOT NULL,
    conversations_moved INT UNSIGNED NOT NULL,
    merged_by_agent_id INT UNSIGNED NOT NULL,
    merged_login VARCHAR(300) NOT NULL,
    merged_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP()),
    PRIMARY KEY (merge_id),
    KEY ix_customer_merges_kept (kept_customer_id),
    UNIQUE KEY uq_customer_merges_dropped (dropped_customer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
