DROP PROCEDURE IF EXISTS sp_find_duplicate_customers;

DELIMITER $$

CREATE PROCEDURE sp_find_duplicate_customers ()
READS SQL DATA
SQL SECURITY INVOKER
COMMENT '
Description
-----------
Pairs of customers that are likely one person: the same email (compared
without case and surrounding spaces) or the same normalised phone, and
whether the names match too. One row per pair, the older customer first:
customer_id, duplicate_id, reason (''email'', ''phone'', ''name and email'',
''name and phone''), both names, emails and phones, and the tickets of
each. Strongest reasons first. Settle a pair with sp_merge_customers.

Parameters
-----------
None.

Example
-----------
CALL sp_find_duplicate_customers();
'
BEGIN
    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_find_duplicate_customers');

    SELECT
        p.customer_id,
        p.duplicate_id,
        a.name AS customer_name,
        b.name AS duplicate_name,
        a.email AS customer_email,
        b.email AS duplicate_email,
        a.phone AS customer_phone,
        b.phone AS duplicate_phone,
        CONCAT(
            IF(a.name = b.name, 'name and ', ''),
            IF(a.email_normalized = b.email_normalized, 'email', 'phone')
        ) AS reason,
        (
            SELECT COUNT(*) FROM service_tickets AS t
            WHERE t.customer_id = a.customer_id
        ) AS customer_tickets,
        (
            SELECT COUNT(*) FROM service_tickets AS t
            WHERE t.customer_id = b.customer_id
        ) AS duplicate_tickets
    FROM (
        SELECT
            c1.customer_id,
            c2.customer_id AS duplicate_id
        FROM customers AS c1
        INNER JOIN customers AS c2
            ON
                c1.email_normalized = c2.email_normalized
                AND c1.customer_id < c2.customer_id
        UNION DISTINCT
        SELECT
            c1.customer_id,
            c2.customer_id AS duplicate_id
        FROM customers AS c1
        INNER JOIN customers AS c2
            ON
                c1.phone = c2.phone
                AND c1.customer_id < c2.customer_id
    ) AS p
    INNER JOIN customers AS a ON p.customer_id = a.customer_id
    INNER JOIN customers AS b ON p.duplicate_id = b.customer_id
    ORDER BY
        (a.email_normalized = b.email_normalized) DESC,
        (a.name = b.name) DESC,
        p.customer_id ASC,
        p.duplicate_id ASC;
END$$

DELIMITER ;
