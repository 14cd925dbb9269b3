"""`python -m ticketdb`: the `ticketdb` command."""

from ticketdb.cli import main

main()
