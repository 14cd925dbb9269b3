"""The VIP cache (issue 25, parts 2 and 3): the binlog worker keeps
vip_tickets:<customer_id> equal to each VIP's open tickets through moves,
promotions, demotions, merges, reopens, a Redis restarted empty and a purged
position; open_tickets reads cache-first; alerts reach the stream once.
Real servers: a MariaDB with its binary log and a redis-server, both
throwaway."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import pymysql
import pytest
import redis
from support import agent, bind_login, call, customer, execute, log, one, query, ticket
from support.cache import (
    ROOT,
    ThreadWorker,
    cached,
    start_binlog_server,
    wait_equal,
    worker_process,
)

from ticketdb import migrate
from ticketdb.cache import keys, reader, scripts
from ticketdb.cache.throwaway import RedisServer
from ticketdb.connection import Target, connect

OPEN = ("pending", "in_progress", "waiting_customer")


@pytest.fixture(scope="module")
def binlog_server(mysql_server):
    if mysql_server.kind == "url":
        pytest.skip("a server named by TICKETDB_TEST_URL is not ours to configure")
    srv = start_binlog_server(mysql_server.kind)
    yield srv
    srv.stop()


@pytest.fixture
def cache_db(binlog_server, request) -> Iterator[Target]:
    name = "c_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name)[:40]
    target = binlog_server.target.with_database(name.lower())
    migrate.up(target, echo=lambda _line: None)
    yield target
    conn = connect(target, database=None)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{target.database}`")
    conn.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    srv = RedisServer()
    yield srv
    srv.stop()


def vip(conn) -> int:
    return customer(conn, "vip")


def test_the_worker_follows_moves_promotions_demotions_merges_and_reopens(cache_db,
                                                                         redis_server):
    c = connect(cache_db)
    r = redis.Redis.from_url(redis_server.url)
    a = agent(c)
    rich, quiet, plain = vip(c), vip(c), customer(c)
    t1, t2 = ticket(c, customer_id=rich), ticket(c, customer_id=rich)
    t3 = ticket(c, customer_id=plain)
    worker = ThreadWorker(cache_db, redis_server.url)
    try:
        assert wait_equal(cache_db, r) == {rich: {t1, t2}, quiet: set()}
        # a VIP with no open tickets is cached (a hit, empty), a standard one is not
        assert reader.cached_tickets(quiet, redis_url=redis_server.url) == []
        assert reader.cached_tickets(plain, redis_url=redis_server.url) is None
        assert reader.open_tickets(plain, redis_url=redis_server.url,
                                   db_url=cache_db.url()) == [t3]

        log(c, t1, "assign", a)
        log(c, t1, "resolve", a)  # resolved: not open
        t4 = ticket(c, customer_id=quiet)
        assert wait_equal(cache_db, r) == {rich: {t2}, quiet: {t4}}
        log(c, t1, "reopen", a)  # open again
        log(c, t4, "close", a)
        assert wait_equal(cache_db, r) == {rich: {t1, t2}, quiet: set()}

        # promotion (from spend), demotion (override)
        execute(c, "INSERT INTO customer_orders (customer_id, amount) VALUES (%s, 200000)",
                (plain,))
        call(c, "sp_refresh_customer_tiers")
        assert wait_equal(cache_db, r)[plain] == {t3}
        call(c, "sp_set_customer_tier", quiet, "standard", "no longer a key account")
        assert quiet not in wait_equal(cache_db, r)
        assert r.exists(keys.tickets_key(quiet)) == 0

        # a merge moves the dropped VIP's tickets to the one kept
        bind_login(c, a)  # the merge's actor is the login's agent (V037)
        call(c, "sp_merge_customers", plain, rich, a)
        assert wait_equal(cache_db, r) == {plain: {t1, t2, t3}}
        assert reader.open_tickets(plain, redis_url=redis_server.url,
                                   db_url=cache_db.url()) == sorted([t1, t2, t3])
        worker.stop()
    finally:
        worker.worker.stop()
        c.close()


def test_a_redis_restarted_empty_and_a_purged_position_are_rebuilt(cache_db, redis_server):
    c = connect(cache_db)
    r = redis.Redis.from_url(redis_server.url)
    a = agent(c)
    cid = vip(c)
    t1 = ticket(c, customer_id=cid)
    worker = ThreadWorker(cache_db, redis_server.url)
    try:
        wait_equal(cache_db, r)
        redis_server.restart_empty()
        t2 = ticket(c, customer_id=cid)
        assert wait_equal(cache_db, r, 10) == {cid: {t1, t2}}
        worker.stop()

        # while no worker runs, changes happen and the binlog they are in is purged
        log(c, t1, "close", a)
        t3 = ticket(c, customer_id=cid)
        execute(c, "FLUSH BINARY LOGS")
        newest = query(c, "SHOW BINARY LOGS")[-1][0]
        execute(c, f"PURGE BINARY LOGS TO '{newest}'")
        worker = ThreadWorker(cache_db, redis_server.url)
        assert wait_equal(cache_db, r, 10) == {cid: {t2, t3}}
        worker.stop()
    finally:
        worker.worker.stop()
        c.close()


def test_alerts_reach_the_stream_once_even_when_the_worker_died_before_marking(cache_db,
                                                                              redis_server):
    c = connect(cache_db)
    r = redis.Redis.from_url(redis_server.url)
    late = [ticket(c, "urgent", age=timedelta(hours=3)) for _ in range(3)]
    call(c, "sp_generate_alerts", 60)
    alert_ids = [row[0] for row in query(c, "SELECT alert_id FROM ticket_alerts ORDER BY 1")]
    assert len(alert_ids) == 3
    # A worker that published the first alert and died before setting sent_at:
    r.register_script(scripts.PUBLISH)(keys=[keys.ALERTS, keys.PUBLISHED],
                                       args=[alert_ids[0], 1000, "ticket_id", late[0]])
    worker = ThreadWorker(cache_db, redis_server.url)
    try:
        deadline = time.monotonic() + 10
        while (one(c, "SELECT COUNT(*) FROM ticket_alerts WHERE sent_at IS NULL")
               and time.monotonic() < deadline):
            time.sleep(0.1)
        more = ticket(c, "urgent", age=timedelta(hours=4))
        call(c, "sp_generate_alerts", 60)
        deadline = time.monotonic() + 10
        while r.xlen(keys.ALERTS) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        worker.stop()
    finally:
        worker.worker.stop()
    entries = [fields for _id, fields in r.xrange(keys.ALERTS)]
    published = sorted(int(f[b"alert_id"]) for f in entries)
    assert published == sorted([*alert_ids, one(c, "SELECT MAX(alert_id) FROM ticket_alerts")])
    assert one(c, "SELECT COUNT(*) FROM ticket_alerts WHERE sent_at IS NULL") == 0
    last = entries[-1]
    assert int(last[b"ticket_id"]) == more
    assert last[b"alert_type"] == b"overdue" and last[b"priority"] == b"urgent"
    assert r.hlen(keys.PUBLISHED) == 0
    c.close()


def test_run_refuses_a_server_without_full_row_metadata(db, redis_server):
    # the session's server logs ROW with binlog_row_metadata at its default
    result = subprocess.run([sys.executable, str(ROOT / "deploy.py"), "cache", "run", "--url",
                             db.url(), "--redis", redis_server.url], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 1, result.stderr
    assert "ticketdb: cache: this server's binary log cannot feed the cache" in result.stderr
    assert "binlog_row_metadata is NO_LOG, the cache needs FULL" in result.stderr


def test_the_cli_runs_reports_status_stops_on_sigterm_and_shows_no_password(cache_db,
                                                                            tmp_path):
    secret = "cache-Secret-77x"
    redis_srv = RedisServer(password="redis-Secret-42y")
    admin = connect(cache_db)
    user = "cache_worker"
    try:
        # the grants the worker needs, and no more (docs/vip-cache.md)
        execute(admin, f"CREATE USER '{user}'@'%' IDENTIFIED BY '{secret}'")
        execute(admin, f"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{user}'@'%'")
        execute(admin, f"GRANT SELECT ON `{cache_db.database}`.`customers` TO '{user}'@'%'")
        execute(admin, f"GRANT SELECT ON `{cache_db.database}`.`service_tickets` TO '{user}'@'%'")
        execute(admin, f"GRANT SELECT, UPDATE (sent_at) ON `{cache_db.database}`.`ticket_alerts` "
                       f"TO '{user}'@'%'")
        login = Target(host=cache_db.host, port=cache_db.port, user=user, password=secret,
                       database=cache_db.database)
        cid = vip(admin)
        tid = ticket(admin, customer_id=cid)
        proc = worker_process(login, redis_srv.url, tmp_path / "worker.log")
        r = redis.Redis.from_url(redis_srv.url)
        wait_equal(cache_db, r, 15)
        status = [sys.executable, str(ROOT / "deploy.py"), "cache", "status", "--url",
                  login.url(), "--redis", redis_srv.url, "--json"]
        deadline = time.monotonic() + 10
        while True:
            done = subprocess.run(status, capture_output=True, text=True, timeout=60,
                                  check=False)
            if done.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert done.returncode == 0, done.stdout + done.stderr
        found = json.loads(done.stdout)
        assert found["status"] == "following" and found["healthy"] is True
        assert found["cached_customers"] == 1 and found["lag_events"] == 0
        assert found["worker"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert cached(r) == {cid: {tid}}
        # stopped: status says so, exit 1
        time.sleep(0.1)
        done2 = subprocess.run(status[:-1], capture_output=True, text=True, timeout=60,
                               check=False)
        logged = (tmp_path / "worker.log").read_text()
        assert "stopping" in logged and "stopped at position" in logged
        for text in (logged, done.stdout, done.stderr, done2.stdout, done2.stderr):
            assert secret not in text and "redis-Secret-42y" not in text
        # a wrong Redis password: one line, exit 2, no password
        bad = subprocess.run([*status[:-3], "--redis",
                              redis_srv.url.replace("42y", "00z")],
                             capture_output=True, text=True, timeout=60, check=False)
        assert bad.returncode == 2 and "00z" not in bad.stderr and secret not in bad.stderr
        assert bad.stderr.startswith("error: redis redis://***@127.0.0.1"), bad.stderr
    finally:
        execute(admin, f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()
        redis_srv.stop()


def test_an_alert_published_but_not_marked_sent_is_not_published_again(cache_db, redis_server):
    """The database refuses the sent_at UPDATE (here: a login without the
    grant, as a DB going away would); each retry finds the entry already in
    the stream and adds none."""
    from ticketdb.cache import alerts

    admin = connect(cache_db)
    r = redis.Redis.from_url(redis_server.url)
    user = "alerts_nomark"
    try:
        execute(admin, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'x-Secret-1'")
        execute(admin, f"GRANT SELECT ON `{cache_db.database}`.* TO '{user}'@'%'")
        ticket(admin, "urgent", age=timedelta(hours=3))
        ticket(admin, "urgent", age=timedelta(hours=5))
        call(admin, "sp_generate_alerts", 60)
        ids = sorted(row[0] for row in query(admin, "SELECT alert_id FROM ticket_alerts"))
        login = connect(Target(host=cache_db.host, port=cache_db.port, user=user,
                               password="x-Secret-1", database=cache_db.database))
        for _ in range(2):
            with pytest.raises(pymysql.err.OperationalError) as err:
                alerts.publish_pending(login, r)
            assert err.value.args[0] == 1142  # UPDATE denied
        assert sorted(int(f[b"alert_id"]) for _i, f in r.xrange(keys.ALERTS)) == ids
        assert alerts.publish_pending(admin, r) == 2
        assert sorted(int(f[b"alert_id"]) for _i, f in r.xrange(keys.ALERTS)) == ids
        assert one(admin, "SELECT COUNT(*) FROM ticket_alerts WHERE sent_at IS NULL") == 0
        login.close()
    finally:
        execute(admin, f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()


def test_a_killed_binlog_connection_resumes_where_it_was_and_applies_nothing_twice(
        cache_db, redis_server):
    """The server drops the worker's binlog dump (KILL, as a network cut or a
    failover proxy would): it reconnects from its own position, not from the
    one it started with, and no transaction is applied twice (each op is
    counted in the state's `events`)."""
    c = connect(cache_db)
    r = redis.Redis.from_url(redis_server.url)
    a = agent(c)
    cid = vip(c)
    tickets = [ticket(c, customer_id=cid) for _ in range(3)]
    worker = ThreadWorker(cache_db, redis_server.url)
    try:
        wait_equal(cache_db, r)
        for tid in tickets:
            log(c, tid, "close", a)  # three SREMs
        wait_equal(cache_db, r)
        time.sleep(0.5)  # the idle heartbeat writes the position
        before = int(r.hget(keys.STATE, "events"))
        dumps = [row[0] for row in query(c, "SELECT ID FROM information_schema.PROCESSLIST "
                                            "WHERE COMMAND LIKE 'Binlog Dump%%'")]
        assert dumps, "no binlog dump connection found"
        for dump in dumps:
            execute(c, f"KILL {dump}")
        late = ticket(c, customer_id=cid)  # one SADD
        assert wait_equal(cache_db, r) == {cid: {late}}
        time.sleep(0.5)
        assert int(r.hget(keys.STATE, "events")) == before + 1
        worker.stop()
    finally:
        worker.worker.stop()
        c.close()
