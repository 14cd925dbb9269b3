DROP PROCEDURE IF EXISTS sp_agent_efficiency;

DELIMITER $$

CREATE PROCEDURE sp_agent_efficiency (
    IN in_from DATETIME,
    IN in_to DATETIME
)
READS SQL DATA
SQL SECURITY INVOKER
COMMENT '
Description
-----------
Per agent with tickets closed in [in_from, in_to): tickets_closed,
avg_resolution_minutes (created to closed) and avg_first_response_minutes
(created to first reply; tickets closed without a reply do not count), and
avg_rating: the average customer rating (1-5) the agent received in the
period, NULL without ratings. A ticket counts for the agent it was assigned
to when it closed. Most tickets closed first.

Parameters
-----------
in_from (DATETIME): start of the period, UTC, included.
in_to (DATETIME): end of the period, UTC, excluded.

Example
-----------
CALL sp_agent_efficiency(''2026-11-01'', ''2026-12-01'');
'
BEGIN
    -- Hostile sessions (docs/security.md): refused under a moved clock
    -- (SET timestamp) or a weakening switch, before anything is read.
    CALL sp_refuse_unsafe_session('sp_agent_efficiency');

    IF in_from IS NULL OR in_to IS NULL OR in_from >= in_to THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT
            = 'ticketdb: sp_agent_efficiency: the period needs in_from < in_to';
    END IF;

    WITH agent_ratings AS (
        SELECT
            tr.agent_id,
            ROUND(AVG(tr.rating), 2) AS avg_rating
        FROM ticket_ratings AS tr
        WHERE tr.rated_at >= in_from AND tr.rated_at < in_to
        GROUP BY tr.agent_id
    )

    SELECT
        a.agent_id,
        a.name AS agent_name,
        COUNT(*) AS tickets_closed,
        ROUND(AVG(TIMESTAMPDIFF(MINUTE, t.created_at, t.closed_at)), 1)
            AS avg_resolution_minutes,
        ROUND(AVG(TIMESTAMPDIFF(MINUTE, t.created_at, t.first_response_at)), 1)
            AS avg_first_response_minutes,
        MAX(r.avg_rating) AS avg_rating
    FROM service_tickets AS t
    INNER JOIN agents AS a ON t.assigned_agent_id = a.agent_id
    LEFT JOIN agent_ratings AS r ON a.agent_id = r.agent_id
    WHERE
        t.closed_at >= in_from
        AND t.closed_at < in_to
        AND t.current_status = 'closed'
    GROUP BY a.agent_id, a.name
    ORDER BY tickets_closed DESC, a.agent_id ASC;
END$$

DELIMITER ;
