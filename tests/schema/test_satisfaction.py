"""Customer satisfaction (issue 14, part 4): ticket_ratings, its triggers,
sp_satisfaction_report and the average rating in sp_agent_efficiency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import agent, call, execute, expect_error, log, query, ticket, utcnow


def _resolved(conn, agent_id: int | None = None) -> int:
    tid = ticket(conn)
    aid = agent_id or agent(conn)
    log(conn, tid, "assign", aid)
    log(conn, tid, "resolve", aid)
    return tid


def _rate(conn, tid: int, rating: int, comment: str | None = None) -> int:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO ticket_ratings (ticket_id, rating, rating_comment) "
                    "VALUES (%s, %s, %s)", (tid, rating, comment))
        return cur.lastrowid


def _ratings(conn) -> tuple:
    return query(conn, "SELECT * FROM ticket_ratings ORDER BY rating_id")


def test_a_resolved_ticket_is_rated_once_with_what_the_ticket_says(fresh_conn):
    c = fresh_conn
    aid = agent(c)
    tid = _resolved(c, aid)
    rid = _rate(c, tid, 5, "quick and kind")
    row = query(c, "SELECT t.customer_id, r.customer_id, r.agent_id, r.resolution_no, "
                   "r.rating, r.rating_comment FROM ticket_ratings AS r "
                   "JOIN service_tickets AS t USING (ticket_id) WHERE r.rating_id = %s", (rid,))[0]
    assert row[0] == row[1] and row[2:] == (aid, 1, 5, "quick and kind")
    before = _ratings(c)
    expect_error(c, "INSERT INTO ticket_ratings (ticket_id, rating) VALUES (%s, 4)", (tid,),
                 code=1644, match="resolution 1 is already rated")
    assert _ratings(c) == before


def test_reopening_and_resolving_again_allows_a_new_rating(fresh_conn):
    c = fresh_conn
    aid = agent(c)
    tid = _resolved(c, aid)
    _rate(c, tid, 2)
    log(c, tid, "reopen")
    expect_error(c, "INSERT INTO ticket_ratings (ticket_id, rating) VALUES (%s, 4)", (tid,),
                 code=1644, match="is in_progress: only a resolved or closed ticket")
    log(c, tid, "resolve", aid)
    log(c, tid, "close")
    _rate(c, tid, 4)
    assert query(c, "SELECT resolution_no, rating FROM ticket_ratings WHERE ticket_id = %s "
                    "ORDER BY resolution_no", (tid,)) == ((1, 2), (2, 4))


@pytest.mark.parametrize(("sql", "code", "match"), [
    ("INSERT INTO ticket_ratings (ticket_id, rating) VALUES ({open}, 3)", 1644,
     "is pending: only a resolved or closed ticket can be rated"),
    ("INSERT INTO ticket_ratings (ticket_id, rating) VALUES ({done}, 0)", 1644,
     "a rating is a whole number from 1 to 5"),
    ("INSERT INTO ticket_ratings (ticket_id, rating) VALUES ({done}, 6)", 1644,
     "a rating is a whole number from 1 to 5"),
    ("INSERT INTO ticket_ratings (ticket_id, rating) VALUES ({done}, NULL)", (1048, 1644), None),
    ("INSERT INTO ticket_ratings (ticket_id, rating) VALUES (987654321, 3)", 1644,
     "ticket 987654321 does not exist"),
    ("INSERT INTO ticket_ratings (ticket_id, rating, rated_at) VALUES "
     "({done}, 3, UTC_TIMESTAMP() + INTERVAL 1 DAY)", 1644, "between the resolution and now"),
    ("INSERT INTO ticket_ratings (ticket_id, rating, rated_at) VALUES "
     "({done}, 3, '2020-01-01')", 1644, "between the resolution and now"),
    ("UPDATE ticket_ratings SET rating = 5", 1644, "ratings cannot be changed"),
    ("DELETE FROM ticket_ratings", 1644, "ratings cannot be changed"),
])
def test_bad_ratings_are_refused_and_change_nothing(fresh_conn, sql, code, match):
    c = fresh_conn
    done = _resolved(c)
    _rate(c, _resolved(c), 3)
    open_ticket = ticket(c)
    before = _ratings(c)
    expect_error(c, sql.format(open=open_ticket, done=done), code=code, match=match)
    assert _ratings(c) == before


def test_the_report_per_agent_and_category_and_the_efficiency_rating(fresh_conn):
    c = fresh_conn
    execute(c, "INSERT INTO categories (name) VALUES ('Billing'), ('Login')")
    billing, login = (r[0] for r in query(c, "SELECT category_id FROM categories "
                                             "WHERE name IN ('Billing', 'Login') ORDER BY name"))
    ann, bob = agent(c, name="Ann"), agent(c, name="Bob")
    for who, category, rating in ((ann, billing, 5), (ann, billing, 4), (ann, login, 1),
                                  (bob, login, 3)):
        tid = ticket(c)
        execute(c, "UPDATE service_tickets SET category_id = %s WHERE ticket_id = %s",
                (category, tid))
        log(c, tid, "assign", who)
        log(c, tid, "resolve", who)
        log(c, tid, "close")
        _rate(c, tid, rating)
    now = utcnow(c)
    rows = call(c, "sp_satisfaction_report", now - timedelta(hours=1), now + timedelta(hours=1))
    got = {(r["dimension"], r["dimension_name"]): (r["ratings"], float(r["avg_rating"]),
                                                   float(r["share_4_5"])) for r in rows}
    assert got == {
        ("agent", "Ann"): (3, 3.33, 0.667), ("agent", "Bob"): (1, 3.0, 0.0),
        ("category", "Billing"): (2, 4.5, 1.0), ("category", "Login"): (2, 2.0, 0.0),
    }
    assert [r["dimension"] for r in rows] == ["agent", "agent", "category", "category"]
    later = call(c, "sp_satisfaction_report", now + timedelta(hours=1), now + timedelta(hours=2))
    assert later == []
    efficiency = {r["agent_name"]: r for r in call(c, "sp_agent_efficiency",
                                                    now - timedelta(hours=1),
                                                    now + timedelta(hours=1))}
    assert float(efficiency["Ann"]["avg_rating"]) == 3.33
    assert float(efficiency["Bob"]["avg_rating"]) == 3.0
    expect_error(c, "CALL sp_satisfaction_report(NOW(), NOW())", code=1644,
                 match="the period needs in_from < in_to")
