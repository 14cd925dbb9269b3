"""Connection settings: URLs, my.cnf files, and passwords kept out of text."""

from __future__ import annotations

import pytest

from ticketdb.connection import (
    ConnectionSettingsError,
    Target,
    from_defaults_file,
    from_url,
    redact,
)


def test_a_full_url():
    t = from_url("mysql://app:p%40ss%3Aword@db.example:3307/support")
    assert (t.user, t.password, t.host, t.port, t.database) == (
        "app", "p@ss:word", "db.example", 3307, "support")


def test_defaults():
    t = from_url("mysql://root@localhost")
    assert (t.port, t.database, t.password) == (3306, "ticketdb", "")


def test_socket_and_tls_options():
    t = from_url("mysql://root@localhost/x?unix_socket=/run/mysqld.sock&ssl_ca=/ca.pem")
    assert (t.unix_socket, t.ssl_ca) == ("/run/mysqld.sock", "/ca.pem")


def test_display_never_shows_the_password():
    t = from_url("mysql://app:hunter2@h:1/d")
    assert "hunter2" not in t.display() and "hunter2" not in repr(t)
    assert t.display() == "mysql://app:***@h:1/d"
    assert from_url(t.url()) == t


def test_redact_scrubs_urls_and_the_password():
    assert redact("failed mysql://u:hunter2-x@h/d and hunter2-x", "hunter2-x") == \
        "failed mysql://u:***@h/d and ***"
    assert redact("--password=abc IDENTIFIED BY 'abc'", "abc") == \
        "--password=*** IDENTIFIED BY '***'"


@pytest.mark.parametrize("password", ["root", "a", "error", "Table", "secret"])
def test_a_short_or_plain_word_password_does_not_shred_messages(password):
    message = ("error 1045: Access denied for user 'root'@'10.0.0.1' (using password: YES); "
               "Table 'ticketdb.a' doesn't exist at mysql://root:" + password + "@h/d")
    assert redact(message, password) == message.replace(f":{password}@", ":***@")


@pytest.mark.parametrize("name", ["bad`name", "it's", 'dq"', "a b", "x" * 65, "semi;colon"])
def test_unsafe_database_names_are_refused(name):
    with pytest.raises(ConnectionSettingsError, match="is not allowed"):
        Target().with_database(name)


def test_a_defaults_file(tmp_path):
    cnf = tmp_path / "my.cnf"
    cnf.write_text("[mysqld]\nport=1\n[client]\nuser = app\npassword = \"s3cret\"\n"
                   "host = db\nport = 3310\nsocket = /tmp/s\nssl-ca = /ca.pem\n")
    t = from_defaults_file(str(cnf))
    assert (t.user, t.password, t.host, t.port, t.unix_socket, t.ssl_ca) == (
        "app", "s3cret", "db", 3310, "/tmp/s", "/ca.pem")


def test_a_defaults_file_is_read_as_the_client_reads_it(tmp_path):
    """!include, a comment after a value, a quoted password holding # and
    spaces: my_print_defaults decides, as for the mysql client."""
    (tmp_path / "more.cnf").write_text("[client]\nport = 3311 # the replica\nhost=db2\n")
    cnf = tmp_path / "my.cnf"
    cnf.write_text(f"[client]\nuser = app\npassword = \"p w#x\"\n!include {tmp_path}/more.cnf\n")
    t = from_defaults_file(str(cnf))
    assert (t.user, t.password, t.host, t.port) == ("app", "p w#x", "db2", 3311)


@pytest.mark.parametrize(("text", "message"), [
    ("[mysqld]\nport=1\n", "no \\[client\\] or \\[ticketdb\\] group"),
    ("[client]\nport = abc\n", "is not a number"),
    ("not an ini file", "cannot parse"),
])
def test_bad_defaults_files(tmp_path, text, message):
    cnf = tmp_path / "my.cnf"
    cnf.write_text(text)
    with pytest.raises(ConnectionSettingsError, match=message):
        from_defaults_file(str(cnf))
