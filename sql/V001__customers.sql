-- Customers who open tickets. Email is the natural key; phone is optional.
CREATE TABLE customers (
    customer_id INT UNSIGNED NOT NULL AUTO_INCREMENT,
    name VARCHAR(200) NOT NULL,
    email VARCHAR(254) NOT NULL,
    phone VARCHAR(32) NULL,
    tier ENUM('standard', 'vip') NOT NULL DEFAULT 'standard',
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (customer_id),
    UNIQUE KEY uq_customers_email (email),
    CONSTRAINT chk_customers_name CHECK (name <> ''),
    CONSTRAINT chk_customers_email CHECK (email REGEXP '^[^@ ]+@[^@ ]+[.][^@ .]+$'),
    CONSTRAINT chk_customers_phone CHECK (phone REGEXP '^[+]?[0-9][0-9 ()-]{5,30}$'),
    CONSTRAINT chk_customers_created CHECK (created_at >= '2000-01-01')
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
