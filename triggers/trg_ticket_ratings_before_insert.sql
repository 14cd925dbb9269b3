-- A rating is of the ticket's current resolution: the ticket must be
-- resolved or closed, and each resolution (1 + the ticket's reopen rows) is
-- rated once (service_tickets.reopen_count counts them, so archived log rows
-- do not matter). Customer, agent and category come from the ticket, whatever
-- the client sent. rated_at may be given (a survey tool syncing later), but
-- not before the resolution nor in the future.
--
-- Swapped under LOCK TABLES by deploy.py (see README: "Trigger swaps").
DROP TRIGGER IF EXISTS trg_ticket_ratings_before_insert;

DELIMITER $$

CREATE TRIGGER trg_ticket_ratings_before_insert
BEFORE INSERT ON ticket_ratings
FOR EACH ROW
BEGIN
    DECLARE v_ticket_id BIGINT UNSIGNED;
    DECLARE v_status VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    DECLARE v_resolved_at DATETIME;
    DECLARE v_customer_id INT UNSIGNED;
    DECLARE v_agent_id INT UNSIGNED;
    DECLARE v_category_id INT UNSIGNED;
    DECLARE v_resolution_no SMALLINT UNSIGNED;
    DECLARE v_message VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

    -- Hostile sessions (docs/security.md): a chosen or changed rating_id, warnings
    -- before the rules ran (weak sql_mode, IGNORE) or a weakening switch is
    -- refused, naming it (inline: see trg_ticket_logs_before_insert).
    IF
        NEW.rating_id <> 0 OR @@warning_count > 0 OR @@session.max_error_count = 0
        OR @@session.foreign_key_checks = 0 OR @@session.unique_checks = 0
        /*M!100200 OR @@session.check_constraint_checks = 0 */
    THEN
        SET v_message = LEFT(CONCAT(
            'ticketdb: ', 'ticket_ratings', ': ',
            CASE
                WHEN NEW.rating_id <> 0
                    THEN
                        CONCAT(
                            'rating_id is chosen by the server, not the client (got ',
                            NEW.rating_id, ')'
                        )
                WHEN @@warning_count > 0
                    THEN
                        CONCAT(
                            'refused: the statement raised ', @@warning_count,
                            ' warning(s) before the rules ran (sql_mode not strict, or IGNORE)'
                        )
                WHEN @@session.max_error_count = 0 THEN 'refused under max_error_count = 0'
                WHEN @@session.foreign_key_checks = 0
                    THEN 'refused under foreign_key_checks = 0'
                WHEN @@session.unique_checks = 0 THEN 'refused under unique_checks = 0'
                ELSE 'refused under check_constraint_checks = 0'
            END
        ), 128);
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
    -- A defaulted rated_at is the session's UTC_TIMESTAMP(), which SET timestamp
    -- moves: it becomes the real time (SYSDATE() in UTC).
    IF NEW.rated_at = UTC_TIMESTAMP() THEN
        SET NEW.rated_at = CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00');
    END IF;

    SET v_ticket_id = NEW.ticket_id;
    SELECT
        t.current_status,
        t.customer_id,
        t.assigned_agent_id,
        t.category_id,
        COALESCE(t.resolved_at, t.closed_at) AS resolved_at,
        1 + t.reopen_count AS resolution_no
    INTO v_status, v_customer_id, v_agent_id, v_category_id, v_resolved_at, v_resolution_no
    FROM service_tickets AS t
    WHERE t.ticket_id = v_ticket_id
    FOR UPDATE;

    IF v_status IS NULL THEN
        SET v_message = CONCAT('ticketdb: ticket ', v_ticket_id, ' does not exist');
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
    IF v_status NOT IN ('resolved', 'closed') THEN
        SET v_message = CONCAT(
            'ticketdb: ticket ', v_ticket_id, ' is ', v_status,
            ': only a resolved or closed ticket can be rated'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
    IF NEW.rating IS NULL OR NEW.rating < 1 OR NEW.rating > 5 THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'ticketdb: a rating is a whole number from 1 to 5';
    END IF;

    IF EXISTS (
        SELECT 1 FROM ticket_ratings AS r
        WHERE r.ticket_id = v_ticket_id AND r.resolution_no = v_resolution_no
    ) THEN
        SET v_message = CONCAT(
            'ticketdb: ticket ', v_ticket_id, ': resolution ', v_resolution_no,
            ' is already rated'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;

    SET NEW.resolution_no = v_resolution_no;
    SET NEW.customer_id = v_customer_id;
    SET NEW.agent_id = v_agent_id;
    SET NEW.category_id = v_category_id;
    SET NEW.rated_at = COALESCE(NEW.rated_at, CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00'));
    IF
        NEW.rated_at > CONVERT_TZ(SYSDATE(), @@session.time_zone, '+00:00') + INTERVAL 5 MINUTE
        OR NEW.rated_at < v_resolved_at
    THEN
        SET v_message = CONCAT(
            'ticketdb: ticket ', v_ticket_id,
            ': rated_at must lie between the resolution and now (UTC)'
        );
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v_message;
    END IF;
END$$

DELIMITER ;
