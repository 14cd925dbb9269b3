"""The roles' grant lists, decided without a server: what each role may do is
a list of statements here, and these are the properties docs/security.md
promises of it. tests/schema/test_roles.py logs in with each role to prove
the server enforces them."""

from __future__ import annotations

import pytest

from ticketdb import roles

DB = "helpdesk"
# every column but the key, as writable_columns() reads them from the schema
COLUMNS = {t: ["customer_id", "subject"] for t in roles.AGENT_INSERTS} | {
    "ticket_logs": ["ticket_id", "action_type", "agent_id"],
    "agents": ["name", "email"], "escalation_rules": ["from_priority", "to_priority"]}


def held(kind: str, archives: tuple[str, ...] = ()) -> set[tuple[str, str | None, str]]:
    statements = roles.grants(DB, COLUMNS, archives)[kind]
    return set().union(*(roles.privileges(g) for g in statements))


def test_privileges_reads_a_grant_as_show_grants_prints_it():
    assert roles.privileges("GRANT SELECT, UPDATE (`a`, `b`) ON `db`.`t` TO `r`@`%`") == {
        ("SELECT", None, "db.t"), ("UPDATE", "a", "db.t"), ("UPDATE", "b", "db.t")}
    assert roles.privileges("EXECUTE ON procedure `db`.`sp_x`") == {
        ("EXECUTE", None, "PROCEDURE db.sp_x")}
    assert roles.privileges("GRANT USAGE ON *.* TO `r`") == set()
    assert roles.privileges("not a grant") == set()


@pytest.mark.parametrize("kind", ["reporting", "agent", "supervisor", "app"])
def test_every_statement_is_a_grant_that_reads_back(kind):
    for statement in roles.grants(DB, COLUMNS)[kind]:
        assert roles.privileges(statement), statement


@pytest.mark.parametrize("kind", ["reporting", "agent", "supervisor", "app"])
def test_no_role_reads_a_whole_database_or_an_internal_table(kind):
    privileges = held(kind)
    assert not [p for p in privileges if p[2].endswith(".*")]
    internal = {f"{DB}.{t}" for t in roles.INTERNAL_TABLES}
    assert not [p for p in privileges if p[2] in internal]


@pytest.mark.parametrize("kind", ["reporting", "agent", "supervisor", "app"])
def test_the_audit_trail_is_only_ever_appended_to(kind):
    on_logs = {p[0] for p in held(kind, ("ticket_logs_202601",))
               if p[2] in (f"{DB}.ticket_logs", f"{DB}.ticket_logs_202601")}
    assert on_logs <= {"SELECT", "INSERT"}
    archive = {p[0] for p in held(kind, ("ticket_logs_202601",))
               if p[2] == f"{DB}.ticket_logs_202601"}
    assert archive <= {"SELECT"}


@pytest.mark.parametrize("kind", ["agent", "supervisor", "app"])
def test_status_priority_and_assignee_move_only_through_the_flow(kind):
    updated = {p[1] for p in held(kind)
               if p[0] == "UPDATE" and p[2] == f"{DB}.service_tickets"}
    assert None not in updated  # no table-wide UPDATE
    assert not updated & {"current_status", "priority", "assigned_agent_id", "ticket_id"}


@pytest.mark.parametrize("kind", ["agent", "supervisor"])
def test_no_role_names_a_surrogate_key(kind):
    """INSERT (and a supervisor's UPDATE of agents and escalation rules) is
    a column grant of exactly the columns writable_columns() read: every
    column but the AUTO_INCREMENT key."""
    for priv, column, on in held(kind):
        table = on.rsplit(".", 1)[1]
        if priv in ("INSERT", "UPDATE") and table in COLUMNS:
            assert column is not None, (priv, on)
            if priv == "INSERT":
                assert column in COLUMNS[table], (priv, column, on)


def test_only_reporting_reads_the_archives():
    archive = f"{DB}.ticket_logs_202601"
    assert ("SELECT", None, archive) in held("reporting", ("ticket_logs_202601",))
    for kind in ("agent", "supervisor", "app"):
        assert not [p for p in held(kind, ("ticket_logs_202601",)) if p[2] == archive]


def test_a_supervisor_can_do_what_an_agent_can_and_the_automation():
    agent, supervisor = held("agent"), held("supervisor")
    assert agent <= supervisor
    assert ("EXECUTE", None, f"PROCEDURE {DB}.sp_escalate_priorities") in supervisor
    assert ("EXECUTE", None, f"PROCEDURE {DB}.sp_escalate_priorities") not in agent


def test_reporting_writes_nothing():
    assert {p[0] for p in held("reporting")} <= {"SELECT", "EXECUTE"}


def test_role_names_follow_the_database_and_fit_in_32_characters():
    assert roles.role_names("helpdesk")["agent"] == "helpdesk_agent"
    with pytest.raises(ValueError, match="longer than 32 characters"):
        roles.role_names("a" * 25)
