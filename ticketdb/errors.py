"""The one error type of ticketdb, and the one way a failure is told.

Every failure the deployer expects (a file that cannot be used, a refusal, a
server error, a connection that cannot be made) reaches the command line as a
`TicketdbError`: its message is what the person reads, its `exit_code` what
the process exits with (1 failed, 2 usage or connection, 130 interrupted).
`as_error` turns the server's own errors into one, so `verify`, `lint` and
every other command print them the same way.
"""

from __future__ import annotations

import pymysql

# access denied, unknown database, can't connect, unknown host, gone away, lost
CONNECT_ERRORS = {1044, 1045, 1049, 2003, 2005, 2006, 2013}


class TicketdbError(Exception):
    """An expected failure: a readable message and the exit code (default 1)."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


def as_error(exc: BaseException) -> TicketdbError:
    """Any exception as the one error type: ticketdb's own as they are, the
    server's as `error CODE: message` (never a Python tuple), anything else
    as unexpected."""
    if isinstance(exc, TicketdbError):
        return exc
    if isinstance(exc, pymysql.err.InterfaceError):
        return TicketdbError("server error: the connection to the server was lost (it closed "
                             "or was killed); run the command again")
    if isinstance(exc, pymysql.MySQLError):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        text = exc.args[1] if len(exc.args) > 1 else str(exc.args[0]) if exc.args else str(exc)
        if isinstance(exc, pymysql.err.OperationalError) and code in CONNECT_ERRORS:
            return TicketdbError(f"cannot connect: error {code}: {text}", exit_code=2)
        return TicketdbError(f"server error: error {code}: {text}" if code
                             else f"server error: {text}")
    return TicketdbError(f"unexpected {type(exc).__name__}: {exc} "
                         "(TICKETDB_DEBUG=1 shows the traceback)")


class DeployError(TicketdbError):
    """`up` could not finish, or refuses to start: the message names the file
    and statement, or what to do first (exit 1)."""
