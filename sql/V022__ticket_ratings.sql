-- Customer satisfaction: one rating (1-5, optional comment) per resolution of
-- a ticket. Reopening and resolving again starts a new resolution, which may
-- be rated again. The ticket, its customer, the agent it was assigned to and
-- its category are taken from the ticket by trg_ticket_ratings_before_insert;
-- ratings are never changed or deleted (triggers refuse both).
CREATE TABLE ticket_ratings (
    rating_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    ticket_id BIGINT UNSIGNED NOT NULL,
    resolution_no SMALLINT UNSIGNED NOT NULL DEFAULT 0,
    rating TINYINT UNSIGNED NOT NULL,
    rating_comment VARCHAR(2000) NULL,
    customer_id INT UNSIGNED NULL,
    agent_id INT UNSIGNED NULL,
    category_id INT UNSIGNED NULL,
    rated_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP()),
    PRIMARY KEY (rating_id),
    UNIQUE KEY uq_ticket_ratings_resolution (ticket_id, resolution_no),
    KEY ix_ticket_ratings_rated (rated_at, agent_id),
    CONSTRAINT fk_ticket_ratings_ticket FOREIGN KEY (ticket_id)
    REFERENCES service_tickets (ticket_id),
    CONSTRAINT chk_ticket_ratings_rating CHECK (rating BETWEEN 1 AND 5)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
