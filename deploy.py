#!/usr/bin/env python3
"""ticketdb's deployer, run from a checkout: `python deploy.py up` is the
installed `ticketdb up`, with this checkout's code and SQL files.

    python deploy.py --defaults-file ~/.my.cnf up
    TICKETDB_URL=mysql://USER:PASSWORD@HOST:PORT/DATABASE python deploy.py status --json

The commands are in ticketdb/cli.py (its docstring maps where everything else is).
"""

from ticketdb.cli import main

if __name__ == "__main__":
    main()
