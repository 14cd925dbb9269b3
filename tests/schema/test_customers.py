"""Clean customers (issue 14, part 3): normalised email and phone, the
migration that brings old data to the rules, sp_find_duplicate_customers and
sp_merge_customers."""

from __future__ import annotations

import pytest
from support import agent, bind_login, call, execute, expect_error, log, one, query, ticket
from support.deploy import run

from ticketdb.connection import connect


def _customer(conn, name: str, email: str, phone: str | None = None) -> int:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO customers (name, email, phone) VALUES (%s, %s, %s)",
                    (name, email, phone))
        return cur.lastrowid


def _everything(conn) -> tuple:
    return tuple(query(conn, f"SELECT * FROM {t} ORDER BY 1") for t in
                 ("customers", "service_tickets", "interactions", "conversations", "messages",
                  "customer_merges"))


def test_email_is_unique_without_case_or_spaces_and_phones_are_normalised(fresh_conn):
    c = fresh_conn
    cid = _customer(c, "Ann", "ann@x.com", " +1 (555) 123-45.67 ")
    assert query(c, "SELECT email, phone FROM customers WHERE customer_id = %s",
                 (cid,)) == (("ann@x.com", "+15551234567"),)
    expect_error(c, "INSERT INTO customers (name, email) VALUES ('Ann', 'Ann@X.com ')",
                 code=1062)
    other = _customer(c, "Bo", "bo@x.com")
    expect_error(c, "UPDATE customers SET email = ' ANN@x.COM' WHERE customer_id = %s",
                 (other,), code=1062)
    execute(c, "UPDATE customers SET email_conflict = 7 WHERE customer_id = %s", (other,))
    assert one(c, "SELECT email_conflict FROM customers WHERE customer_id = %s", (other,)) == 0


def test_duplicates_are_found_with_their_reason(fresh_conn):
    c = fresh_conn
    a = _customer(c, "Ann Lee", "ann@x.com", "+1 555 000 1111")
    b = _customer(c, "Ann Lee", "ann.lee@y.org", "+1-555-000-1111")
    d = _customer(c, "Someone Else", "else@y.org", "+15550001111")
    _customer(c, "Unrelated", "u@y.org", "+44 20 0000 0000")
    rows = call(c, "sp_find_duplicate_customers")
    pairs = {(r["customer_id"], r["duplicate_id"]): r["reason"] for r in rows}
    assert pairs == {(a, b): "name and phone", (a, d): "phone", (b, d): "phone"}
    assert rows[0]["customer_id"] == a and rows[0]["duplicate_id"] == b  # strongest first


def test_a_merge_moves_everything_records_it_and_removes_the_duplicate(fresh_conn):
    c = fresh_conn
    keep = _customer(c, "Ann Lee", "ann@x.com", "+15550001111")
    drop = _customer(c, "Ann Lee", "ann.lee@y.org", "+15550001111")
    sup = agent(c)
    t1, t2 = ticket(c, customer_id=drop), ticket(c, customer_id=drop)
    log(c, t1, "assign", sup)
    execute(c, "INSERT INTO interactions (customer_id, ticket_id, channel) "
               "VALUES (%s, %s, 'email')", (drop, t1))
    execute(c, "INSERT INTO conversations (customer_id, agent_id, status) "
               "VALUES (%s, %s, 'open')", (drop, sup))
    conv = one(c, "SELECT LAST_INSERT_ID()")
    execute(c, "INSERT INTO messages (conversation_id, sender_type, sender_id, content) "
               "VALUES (%s, 'customer', %s, 'hello')", (conv, drop))
    bind_login(c, sup)
    result = call(c, "sp_merge_customers", keep, drop, sup)[0]
    assert (result["tickets_moved"], result["interactions_moved"],
            result["conversations_moved"]) == (2, 1, 1)
    assert one(c, "SELECT COUNT(*) FROM customers WHERE customer_id = %s", (drop,)) == 0
    assert query(c, "SELECT DISTINCT customer_id FROM service_tickets WHERE ticket_id IN "
                    "(%s, %s)", (t1, t2)) == ((keep,),)
    assert one(c, "SELECT sender_id FROM messages WHERE conversation_id = %s", (conv,)) == keep
    merge = query(c, "SELECT kept_customer_id, dropped_customer_id, dropped_email, "
                     "tickets_moved, merged_by_agent_id FROM customer_merges")
    assert merge == ((keep, drop, "ann.lee@y.org", 2, sup),)
    assert call(c, "sp_find_duplicate_customers") == []
    expect_error(c, "UPDATE customer_merges SET tickets_moved = 0", code=1644,
                 match="append-only")
    expect_error(c, "DELETE FROM customer_merges", code=1644, match="append-only")
    assert one(c, "SELECT current_status FROM service_tickets WHERE ticket_id = %s",
               (t1,)) == "in_progress"  # the flow is untouched


@pytest.mark.parametrize(("case", "match"), [
    ("same", "needs two different customers"),
    ("unknown", "does not exist"),
    ("null", "needs two different customers"),
    ("inactive agent", "is not an active agent"),
    ("claimed by another", "open conversation claimed by agent"),
])
def test_an_ambiguous_merge_is_refused_and_changes_nothing(fresh_conn, case, match):
    c = fresh_conn
    keep = _customer(c, "Ann", "ann@x.com")
    drop = _customer(c, "Ann", "ann2@x.com")
    sup, other = agent(c), agent(c)
    ticket(c, customer_id=drop)
    execute(c, "INSERT INTO conversations (customer_id, agent_id, status) "
               "VALUES (%s, %s, 'open')", (drop, other))
    args = {"same": (keep, keep, sup), "unknown": (keep, 987654, sup),
            "null": (keep, None, sup), "inactive agent": (keep, drop, agent(c, active=False)),
            "claimed by another": (keep, drop, sup)}[case]
    bind_login(c, args[2])
    before = _everything(c)
    expect_error(c, "CALL sp_merge_customers(%s, %s, %s)", args, code=1644, match=match)
    assert _everything(c) == before


def test_the_migration_settles_old_data_and_says_what_it_could_not(empty_db):
    """Data from before the rules: phones with spaces, and two customers whose
    emails differ only in case (possible under an older, binary key). The
    migration normalises the phones and lists the duplicate instead of failing."""
    assert run(empty_db, "up", "--target", "V022").returncode == 0
    c = connect(empty_db)
    try:
        execute(c, "ALTER TABLE customers DROP INDEX uq_customers_email")
        execute(c, "INSERT INTO customers (name, email, phone) VALUES "
                   "('Ann', 'ann@x.com', '+1 555 000 1111'), ('Ann', 'ANN@x.com', NULL)")
        result = run(empty_db, "up")
        assert result.returncode == 0, result.stderr
        assert one(c, "SELECT phone FROM customers WHERE email = 'ann@x.com' "
                      "COLLATE utf8mb4_bin") == "+15550001111"
        issues = query(c, "SELECT customer_id, issue, detail FROM customer_data_issues")
        assert len(issues) == 1 and issues[0][1] == "duplicate email"
        assert "merge them with sp_merge_customers" in issues[0][2]
        pair = call(c, "sp_find_duplicate_customers")
        assert [r["reason"] for r in pair] == ["name and email"]
        sup = agent(c)
        bind_login(c, sup)
        call(c, "sp_merge_customers", pair[0]["customer_id"], pair[0]["duplicate_id"], sup)
        assert one(c, "SELECT COUNT(*) FROM customer_data_issues") == 0
    finally:
        c.close()


def test_sample_leaves_duplicates_for_the_merge_to_find(fresh_db):
    result = run(fresh_db, "sample", "--tickets", "500")
    assert result.returncode == 0, result.stderr
    c = connect(fresh_db)
    try:
        pairs = call(c, "sp_find_duplicate_customers")
        assert len(pairs) >= 2
        assert {r["reason"] for r in pairs} >= {"name and phone"}
    finally:
        c.close()
