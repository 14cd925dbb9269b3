-- Ticket and knowledge-base categories.
CREATE TABLE categories (
    category_id INT UNSIGNED NOT NULL AUTO_INCREMENT,
    name VARCHAR(100) NOT NULL,
    description VARCHAR(500) NULL,
    PRIMARY KEY (category_id),
    UNIQUE KEY uq_categories_name (name),
    CONSTRAINT chk_categories_name CHECK (name <> '')
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
