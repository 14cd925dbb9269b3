-- Clean customers: an email is the same whatever its case and surrounding
-- spaces, and is unique in that form; phones are stored normalised (digits,
-- with a leading + kept). Existing data is brought to these rules here: phones
-- are normalised, and a customer whose email already belongs (in that form)
-- to an older customer is marked as a conflict instead of failing the
-- migration. Every such case is listed in customer_data_issues, for
-- sp_find_duplicate_customers and sp_merge_customers to settle.
ALTER TABLE customers
    ADD COLUMN email_normalized VARCHAR(254)
    COLLATE utf8mb4_unicode_ci AS (LOWER(TRIM(email))) STORED AFTER email,
    ADD COLUMN email_conflict INT UNSIGNED NOT NULL DEFAULT 0 AFTER email_normalized,
    ADD KEY ix_customers_phone (phone);

CREATE TABLE customer_data_issues (
    issue_id INT UNSIGNED NOT NULL AUTO_INCREMENT,
    customer_id INT UNSIGNED NOT NULL,
    issue VARCHAR(40) NOT NULL,
    detail VARCHAR(500) NOT NULL,
    found_at DATETIME NOT NULL DEFAULT (UTC_TIMESTAMP()),
    PRIMARY KEY (issue_id),
    KEY ix_customer_data_issues_customer (customer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

UPDATE customers
SET phone = REGEXP_REPLACE(phone, '[ ().-]', '')
WHERE phone IS NOT NULL AND phone REGEXP '[ ().-]';

UPDATE customers AS c
INNER JOIN (
    SELECT
        email_normalized,
        MIN(customer_id) AS first_id
    FROM customers
    GROUP BY email_normalized
    HAVING COUNT(*) > 1
) AS d ON c.email_normalized = d.email_normalized
SET c.email_conflict = c.customer_id
WHERE c.customer_id <> d.first_id;

INSERT INTO customer_data_issues (customer_id, issue, detail)
SELECT
    c.customer_id,
    'duplicate email' AS issue,
    CONCAT(
        'email ', c.email, ' is also customer ', MIN(o.customer_id),
        '''s: merge them with sp_merge_customers'
    ) AS detail
FROM customers AS c
INNER JOIN customers AS o
    ON
        c.email_normalized = o.email_normalized
        AND o.email_conflict = 0
WHERE c.email_conflict <> 0
GROUP BY c.customer_id, c.email;

ALTER TABLE customers
    ADD UNIQUE KEY uq_customers_email_normalized (email_normalized, email_conflict);
