"""Roles: placeholder until implemented."""

from ticketdb.connection import Target


def apply(target: Target) -> list[str]:
    raise NotImplementedError
