DROP PROCEDURE IF EXISTS sp_satisfaction_report;

DELIMITER $$

CREATE PROCEDURE sp_satisfaction_report (
    IN in_from DATETIME,
    IN in_to DATETIME
)
READS SQL DATA
SQL SECURITY INVOKER
COMMENT '
Description
-----------
Customer satisfaction for ratings given in [in_from, in_to), per agent and
per category: one result set with dimension (''agent'' or ''category''),
dimension_id, dimension_name, ratings, avg_rating (1-5, two decimals) and
share_4_5 (the share of ratings that are 4 or 5, 0-1). A rating counts for
the agent the ticket was assigned to and the category it had when it was
rated. Agents first, then categories; most ratings first.

Parameters
-----------
in_from (DATETIME): start of the period, UTC, included.
in_to (DATETIME): end of the period, UTC, excluded.

Example
-----------
CALL sp_satisfaction_report(''2026-11-01'', ''2026-12-01'');
'
BEGIN
    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_satisfaction_report');

    IF in_from IS NULL OR in_to IS NULL OR in_from >= in_to THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_satisfaction_report: the period needs in_from < in_to';
    END IF;

    SELECT
        d.dimension,
        d.dimension_id,
        d.dimension_name,
        d.ratings,
        d.avg_rating,
        d.share_4_5
    FROM (
        SELECT
            'agent' AS dimension,
            1 AS dimension_order,
            r.agent_id AS dimension_id,
            COALESCE(a.name, '(unassigned)') AS dimension_name,
            COUNT(*) AS ratings,
            ROUND(AVG(r.rating), 2) AS avg_rating,
            ROUND(AVG(r.rating >= 4), 3) AS share_4_5
        FROM ticket_ratings AS r
        LEFT JOIN agents AS a ON r.agent_id = a.agent_id
        WHERE r.rated_at >= in_from AND r.rated_at < in_to
        GROUP BY r.agent_id, a.name
        UNION ALL
        SELECT
            'category' AS dimension,
            2 AS dimension_order,
            r.category_id AS dimension_id,
            COALESCE(c.name, '(none)') AS dimension_name,
            COUNT(*) AS ratings,
            ROUND(AVG(r.rating), 2) AS avg_rating,
            ROUND(AVG(r.rating >= 4), 3) AS share_4_5
        FROM ticket_ratings AS r
        LEFT JOIN categories AS c ON r.category_id = c.category_id
        WHERE r.rated_at >= in_from AND r.rated_at < in_to
        GROUP BY r.category_id, c.name
    ) AS d
    ORDER BY d.dimension_order ASC, d.ratings DESC, d.dimension_id ASC;
END$$

DELIMITER ;
