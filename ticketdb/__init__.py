"""ticketdb: a customer-support ticketing schema for MySQL 8.0+ and MariaDB 10.11+,
and the deployer that applies it (`ticketdb`, or `python deploy.py` in a checkout)."""

__version__ = "0.1.0"
