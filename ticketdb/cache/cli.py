"""`deploy.py cache run|rebuild|status --redis URL`: the click group that
deploy.py registers. The database comes from deploy.py's connection options
(--url, --defaults-file, TICKETDB_URL); Redis from --redis or
TICKETDB_REDIS_URL. No output or log line ever shows a password."""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import click
import pymysql

from ticketdb.connection import ConnectionSettingsError, Target, connect, redact

log = logging.getLogger("ticketdb.cache")


def display_redis(url: str) -> str:
    return re.sub(r"(rediss?://)([^@/]*)@", r"\1***@", url)


def _scrub(text: str, target: Target | None, redis_url: str) -> str:
    password = re.match(r"rediss?://(?:[^:@/]*:)?([^@/]*)@", redis_url)
    text = text.replace(redis_url, display_redis(redis_url))
    if password and password.group(1):
        text = text.replace(password.group(1), "***")
    return redact(text, target.password if target else None)


def _target(ctx: click.Context) -> Target:
    return ctx.find_root().obj.target()


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _guarded(run: Callable[[Target, str], Any], ctx: click.Context, redis_url: str) -> Any:
    try:
        import pymysqlreplication  # noqa: F401
        import redis
    except ImportError as exc:
        _fail(f"the cache needs the [cache] extra ({exc.name} is missing): "
              "pip install 'ticketdb[cache]'", 2)
    target = None
    try:
        target = _target(ctx)
        return run(target, redis_url)
    except ConnectionSettingsError as exc:
        _fail(_scrub(str(exc), target, redis_url), 2)
    except redis.RedisError as exc:
        _fail(_scrub(f"redis {display_redis(redis_url)}: {exc}", target, redis_url), 2)
    except pymysql.MySQLError as exc:
        _fail(_scrub(f"database: {' '.join(str(a) for a in exc.args)}", target, redis_url), 2)
    except RuntimeError as exc:  # SourceError, LeaseLost: one line, exit 1
        _fail(_scrub(str(exc), target, redis_url), 1)


def _logging(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def make_group(connection_options: Callable[[Callable[..., Any]], Callable[..., Any]]
               ) -> click.Group:
    redis_option = click.option("--redis", "redis_url", envvar="TICKETDB_REDIS_URL",
                                required=True, metavar="URL",
                                help="redis://[:PASSWORD@]HOST:PORT/DB (also TICKETDB_REDIS_URL)")

    @click.group("cache")
    def cache() -> None:
        """The Redis cache of VIP customers' open tickets, fed by the binlog (docs/vip-cache.md)."""

    @cache.command("run")
    @connection_options
    @redis_option
    @click.option("--server-id", default=52525, show_default=True, type=click.IntRange(1),
                  help="The replica server id the worker connects with (unique per server).")
    @click.option("--log-level", default="info", show_default=True,
                  type=click.Choice(["debug", "info", "warning", "error"]))
    @click.pass_context
    def run_cmd(ctx: click.Context, redis_url: str, server_id: int, log_level: str) -> None:
        """Follow the binlog and keep the cache; stops cleanly on SIGTERM or Ctrl-C."""
        _logging(log_level)

        def run(target: Target, url: str) -> None:
            from ticketdb.cache.worker import Worker

            worker = Worker(target, url, server_id=server_id)

            def stop(signum: int, _frame: object) -> None:
                log.info("signal %d: stopping", signum)
                worker.stop()

            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            log.info("cache worker for %s, redis %s", target.display(), display_redis(url))
            worker.run()

        _guarded(run, ctx, redis_url)

    @cache.command("rebuild")
    @connection_options
    @redis_option
    @click.option("--wait", default=30, show_default=True, type=click.IntRange(0),
                  help="Seconds to wait for a running worker's lease.")
    @click.pass_context
    def rebuild_cmd(ctx: click.Context, redis_url: str, wait: int) -> None:
        """Rebuild the whole cache from a consistent snapshot of the database."""

        def run(target: Target, url: str) -> None:
            import redis

            from ticketdb.cache import source
            from ticketdb.cache.store import LeaseLost, Store

            store = Store(redis.Redis.from_url(url))
            db = connect(target)
            try:
                info = source.check(db)
                deadline = time.monotonic() + wait
                while store.lease() == -1:
                    if time.monotonic() > deadline:
                        raise LeaseLost(f"a worker holds the lease ({store.holder()}): stop "
                                        "it first (it rebuilds by itself when it must)")
                    time.sleep(0.5)
                snap = source.snapshot(db, info.mariadb)
                store.rebuild(snap, target.database, info.uuid)
                store.release()
            finally:
                db.close()
            click.echo(f"rebuilt: {len(snap.vips)} VIP customers, "
                       f"{sum(len(t) for t in snap.tickets.values())} open tickets, "
                       f"position {snap.position or '(start)'}")

        _guarded(run, ctx, redis_url)

    @cache.command("status")
    @connection_options
    @redis_option
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.option("--max-lag", default=30.0, show_default=True, type=click.FloatRange(0),
                  help="Seconds behind beyond which the cache is unhealthy.")
    @click.pass_context
    def status_cmd(ctx: click.Context, redis_url: str, as_json: bool, max_lag: float) -> None:
        """Lag (seconds, events), position, keys, worker; exit 0 healthy, 1 not, 2 unreachable."""
        def run(target: Target, url: str) -> None:
            import redis

            from ticketdb.cache import status

            db = connect(target)
            try:
                found = status.gather(db, redis.Redis.from_url(url, socket_timeout=5))
            finally:
                db.close()
            ok, why = status.healthy(found, max_lag)
            found["healthy"], found["health"] = ok, why
            if as_json:
                click.echo(json.dumps(found, indent=2))
            else:
                for name, value in found.items():
                    click.echo(f"{name:<26} {value}")
            sys.exit(0 if ok else 1)

        _guarded(run, ctx, redis_url)

    return cache
