-- Knowledge-base articles, full-text searchable on title and content:
-- MATCH (title, content) AGAINST ('reset password' IN NATURAL LANGUAGE MODE).
CREATE TABLE kb_articles (
    article_id INT UNSIGNED NOT NULL AUTO_INCREMENT,
    category_id INT UNSIGNED NULL,
    title VARCHAR(255) NOT NULL,
    content MEDIUMTEXT NOT NULL,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (article_id),
    KEY ix_kb_articles_category (category_id),
    FULLTEXT KEY ft_kb_articles_title_content (title, content),
    CONSTRAINT fk_kb_articles_category FOREIGN KEY (category_id)
    REFERENCES categories (category_id) ON DELETE SET NULL,
    CONSTRAINT chk_kb_articles_title CHECK (title <> '')
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
