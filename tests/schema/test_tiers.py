"""Tiers from spend (issue 25, part 1): customer_orders, sp_refresh_customer_tiers,
the manual override sp_set_customer_tier, the tier history, the daily event,
orders following a merge, and who may read orders."""

from __future__ import annotations

import time

import pymysql
import pytest
from support import (
    agent,
    bind_login,
    call,
    customer,
    execute,
    expect_error,
    one,
    query,
    role_logins,
)

from ticketdb.connection import connect


def order(conn, customer_id: int, amount: float, days_ago: int = 10) -> int:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO customer_orders (customer_id, ordered_at, amount, currency) "
                    "VALUES (%s, UTC_TIMESTAMP() - INTERVAL %s DAY, %s, 'EUR')",
                    (customer_id, days_ago, amount))
        return cur.lastrowid


def tier(conn, customer_id: int) -> tuple:
    return query(conn, "SELECT tier, tier_source FROM customers WHERE customer_id = %s",
                 (customer_id,))[0]


def changes(conn, customer_id: int) -> tuple:
    return query(conn, "SELECT old_tier, new_tier, old_source, new_source, reason, changed_by "
                       "FROM customer_tier_changes WHERE customer_id = %s ORDER BY change_id",
                 (customer_id,))


def test_spend_over_twelve_months_upgrades_and_a_lapsed_vip_is_downgraded(fresh_conn):
    c = fresh_conn
    big = customer(c)
    order(c, big, 60000)
    order(c, big, 40000, days_ago=300)  # 100000 in the last 12 months: the threshold
    small = customer(c)
    order(c, small, 99999.99)
    old = customer(c)
    order(c, old, 500000, days_ago=400)  # spent long ago: not counted
    refunded = customer(c)
    order(c, refunded, 150000)
    order(c, refunded, -60000)  # a refund counts against the spend
    assert call(c, "sp_refresh_customer_tiers") == [
        {"upgraded": 1, "downgraded": 0, "threshold": 100000}]
    assert tier(c, big) == ("vip", "spend")
    assert [tier(c, x)[0] for x in (small, old, refunded)] == ["standard"] * 3
    (row,) = changes(c, big)
    assert row[:4] == ("standard", "vip", "spend", "spend")
    assert row[4] == ("sp_refresh_customer_tiers: 12-month spend 100000.00 "
                      ">= vip_annual_spend 100000")
    assert row[5].startswith("root@")
    # A second run changes nothing and records nothing.
    assert call(c, "sp_refresh_customer_tiers")[0]["upgraded"] == 0
    assert len(changes(c, big)) == 1

    # The threshold is a setting; raised above big's spend, big is downgraded.
    execute(c, "UPDATE ticketdb_settings SET setting_value = 150000 "
               "WHERE setting_name = 'vip_annual_spend'")
    assert call(c, "sp_refresh_customer_tiers") == [
        {"upgraded": 0, "downgraded": 1, "threshold": 150000}]
    assert tier(c, big) == ("standard", "spend")
    assert changes(c, big)[-1][:2] == ("vip", "standard")
    assert "100000.00 < vip_annual_spend 150000" in changes(c, big)[-1][4]


def test_a_manual_override_is_respected_until_it_is_ended(fresh_conn):
    c = fresh_conn
    key_account = customer(c)  # spends nothing, vip by contract
    spender = customer(c)
    order(c, spender, 250000)
    call(c, "sp_set_customer_tier", key_account, "vip", "contract 2026-114")
    call(c, "sp_set_customer_tier", spender, "standard", "reseller, no VIP desk")
    call(c, "sp_refresh_customer_tiers")
    assert tier(c, key_account) == ("vip", "manual")
    assert tier(c, spender) == ("standard", "manual")
    assert changes(c, key_account)[0][:5] == (
        "standard", "vip", "spend", "manual", "manual override: contract 2026-114")

    call(c, "sp_set_customer_tier", spender, None, "reseller contract ended")
    assert tier(c, spender) == ("standard", "spend")
    assert call(c, "sp_refresh_customer_tiers")[0]["upgraded"] == 1
    assert tier(c, spender) == ("vip", "spend")
    assert [r[4] for r in changes(c, spender)][-2:] == [
        "override ended: reseller contract ended",
        "sp_refresh_customer_tiers: 12-month spend 250000.00 >= vip_annual_spend 100000"]


def test_an_override_with_bad_input_is_refused_and_changes_nothing(fresh_conn):
    c = fresh_conn
    cid = customer(c)
    expect_error(c, "CALL sp_set_customer_tier(%s, 'gold', 'x')", (cid,), code=1644,
                 match="ticketdb: sp_set_customer_tier: the tier must be vip, standard or NULL")
    expect_error(c, "CALL sp_set_customer_tier(%s, 'vip', '  ')", (cid,), code=1644,
                 match="ticketdb: sp_set_customer_tier: a reason is required")
    expect_error(c, "CALL sp_set_customer_tier(999999, 'vip', 'x')", code=1644,
                 match="ticketdb: customer 999999: no such customer")
    assert tier(c, cid) == ("standard", "spend")
    assert changes(c, cid) == ()


def test_a_direct_update_of_the_tier_is_recorded_too(fresh_conn):
    c = fresh_conn
    cid = customer(c)
    execute(c, "UPDATE customers SET tier = 'vip' WHERE customer_id = %s", (cid,))
    (row,) = changes(c, cid)
    assert row[:2] == ("standard", "vip")
    assert row[4] == "changed directly (UPDATE customers), no reason given"


def test_orders_are_checked(fresh_conn):
    c = fresh_conn
    cid = customer(c)
    expect_error(c, "INSERT INTO customer_orders (customer_id, amount, currency) "
                    "VALUES (%s, 10, 'eur')", (cid,), code=4025)
    expect_error(c, "INSERT INTO customer_orders (customer_id, amount) VALUES (999999, 10)",
                 code=1452)
    assert one(c, "SELECT COUNT(*) FROM customer_orders") == 0


def test_a_merge_moves_the_orders_and_the_refresh_counts_them(fresh_conn):
    c = fresh_conn
    keep, drop = customer(c), customer(c)
    order(c, keep, 50000)
    order(c, drop, 50000)
    sup = agent(c)
    bind_login(c, sup)  # the merge's actor is the login's agent (V037)
    call(c, "sp_merge_customers", keep, drop, sup)
    assert one(c, "SELECT COUNT(*) FROM customer_orders WHERE customer_id = %s", (keep,)) == 2
    call(c, "sp_refresh_customer_tiers")
    assert tier(c, keep) == ("vip", "spend")


def test_the_daily_event_refreshes_tiers(fresh_conn):
    c = fresh_conn
    cid = customer(c)
    order(c, cid, 120000)
    assert one(c, "SELECT CONCAT(INTERVAL_VALUE, ' ', INTERVAL_FIELD) FROM "
                  "information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE() "
                  "AND EVENT_NAME = 'ev_refresh_customer_tiers'") == "1 DAY"
    execute(c, "ALTER EVENT ev_refresh_customer_tiers ON SCHEDULE EVERY 1 SECOND")
    deadline = time.monotonic() + 15
    while tier(c, cid)[0] != "vip" and time.monotonic() < deadline:
        time.sleep(0.25)
    assert tier(c, cid) == ("vip", "spend")


@pytest.mark.parametrize("kind, reads", [("reporting", True), ("supervisor", True),
                                         ("agent", False)])
def test_who_reads_orders_and_tier_changes(db, kind, reads):
    admin = connect(db)
    cid = customer(admin)
    order(admin, cid, 10)
    admin.close()
    with role_logins(db) as logins:
        login = connect(logins[kind])
        try:
            for table in ("customer_orders", "customer_tier_changes"):
                if reads:
                    assert one(login, f"SELECT COUNT(*) >= 0 FROM {table}") == 1
                else:
                    expect_error(login, f"SELECT COUNT(*) FROM {table}", code=1142)
            # nobody but the definer writes the history
            expect_error(login, "INSERT INTO customer_tier_changes (customer_id, old_tier, "
                                "new_tier, old_source, new_source, reason, changed_by) "
                                "VALUES (1, 'vip', 'vip', 'spend', 'spend', 'x', 'x')",
                         code=1142)
            if kind == "supervisor":
                assert call(login, "sp_set_customer_tier", cid, "vip", "by a supervisor")
                assert call(login, "sp_refresh_customer_tiers")
            else:
                with pytest.raises(pymysql.err.OperationalError) as err:
                    call(login, "sp_refresh_customer_tiers")
                assert err.value.args[0] == 1370
        finally:
            login.close()


def test_sample_data_has_orders_and_tiers_from_spend(fresh_db):
    from ticketdb import sample

    counts = sample.load(fresh_db, 300, seed=5)
    c = connect(fresh_db)
    try:
        assert counts["customer_orders"] == one(c, "SELECT COUNT(*) FROM customer_orders") > 0
        vips = one(c, "SELECT COUNT(*) FROM customers WHERE tier = 'vip'")
        assert 0 < vips < one(c, "SELECT COUNT(*) FROM customers") / 2
        # the refresh already ran: a second one changes nothing
        assert call(c, "sp_refresh_customer_tiers")[0] == {
            "upgraded": 0, "downgraded": 0, "threshold": 100000}
    finally:
        c.close()


def test_a_missing_threshold_is_refused_and_changes_nothing(fresh_conn):
    c = fresh_conn
    cid = customer(c)
    order(c, cid, 10)
    execute(c, "UPDATE ticketdb_settings SET setting_value = 0 "
               "WHERE setting_name = 'vip_annual_spend'")
    expect_error(c, "CALL sp_refresh_customer_tiers()", code=1644,
                 match="ticketdb: sp_refresh_customer_tiers: setting vip_annual_spend is below 1")
    assert tier(c, cid) == ("standard", "spend")
