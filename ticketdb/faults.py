"""Fault injection for tests/reliability/test_reliability.py and tests/deployer/test_day_one.py.

The command line builds a `Fault` from the TICKETDB_FAULT environment
variable and gives it to `up` (UpOptions.fault); the live executor calls it
right after each statement of a deploy runs and before the history records
it. Nothing else reads the variable, and `up` called from Python has no fault
unless one is given.

    TICKETDB_FAULT=kill:K     this process SIGKILLs itself after statement K
    TICKETDB_FAULT=pause:K:S  it sleeps S seconds there (time to stop the server)
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Mapping

AfterStatement = Callable[[], None]


class Fault:
    """Counts the statements a deploy runs; at statement `at`, does `action`."""

    def __init__(self, action: str, at: int, seconds: float = 0.0) -> None:
        self.action, self.at, self.seconds = action, at, seconds
        self.statements_run = 0

    def __call__(self) -> None:
        self.statements_run += 1
        if self.statements_run != self.at:
            return
        if self.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.action == "pause":
            print(f"fault injection: pausing after statement {self.at}", file=sys.stderr,
                  flush=True)
            time.sleep(self.seconds)


def from_environment(environ: Mapping[str, str] = os.environ) -> Fault | None:
    """The fault TICKETDB_FAULT names, or None when it is unset."""
    parts = environ.get("TICKETDB_FAULT", "").split(":")
    if len(parts) < 2:
        return None
    return Fault(parts[0], int(parts[1]), float(parts[2]) if len(parts) > 2 else 0.0)
