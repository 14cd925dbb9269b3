"""The splitter against the real `mysql` client: files no one here wrote, split
here and by the client (`-vv` echoes every statement it sends); both must agree.
The goldens that need no server are in tests/unit/test_splitter.py."""

from __future__ import annotations

import re
import subprocess

import pytest
from support.deploy import mariadb_dump, mysql_client

from ticketdb.connection import connect
from ticketdb.splitter import split


def texts(sql: str) -> list[str]:
    return [s.text for s in split(sql)]


CLIENT_CASES = {
    "if/repeat functions after THEN in a CASE expression":
        "CREATE VIEW v1 AS SELECT CASE WHEN 1 THEN REPEAT('?', 3) ELSE IF(1, 'a', 'b') END "
        "AS x;\nSELECT 2;\n",
    "*/ inside a string inside an executable comment":
        "/*!50001 CREATE VIEW v2 AS SELECT ' */' AS a */;\nSELECT 2;\n",
    "comments inside an executable comment are stripped as the client does":
        "/*!50001 SELECT 1 -- inner\n + 1 # two\n AS a */;\nSELECT 1 /* x */ + /*! 2 */ 3;\n",
    "MariaDB executable comments are kept":
        "/*M!100100 SELECT 5 */;\nSELECT /*M! 6 + */ 1;\n",
    "several statements in one DELIMITER block go as one":
        "DELIMITER //\nCREATE VIEW v3 AS SELECT 1 AS a; DROP VIEW v3//\nDELIMITER ;\nSELECT 8;\n",
    "a dump's trigger":
        "DELIMITER ;;\n/*!50003 CREATE*/ /*!50017 DEFINER=CURRENT_USER*/ /*!50003 TRIGGER tr1 "
        "BEFORE INSERT ON spans FOR EACH ROW BEGIN\n  SET NEW.start = 1;\nEND */;;\n"
        "DELIMITER ;\nSELECT 9;\n",
    "a lone CR stays a CR":
        "SELECT 'a'\r, 2;\nSELECT 10;\n",
}

# Compound statements written without DELIMITER (the client needs one): we
# split `<body>;` where the client splits `DELIMITER $$ <body>$$`.
COMPOUND_CASES = {
    "IF NOT / IF EXISTS statements":
        "CREATE PROCEDURE p1()\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM DUAL WHERE 0) THEN\n"
        "    SELECT 1;\n  END IF;\n  IF EXISTS (SELECT 1) THEN SELECT 2; END IF;\n"
        "  IF NOT 0 THEN SELECT 3; END IF;\nEND",
    "a column named end inside a body":
        "CREATE PROCEDURE p2()\nBEGIN\n  SELECT start, end FROM spans ORDER BY end;\n"
        "  SELECT s.end FROM spans AS s;\nEND",
    "MariaDB FOR loop":
        "CREATE PROCEDURE p3()\nBEGIN\n  FOR i IN 1..3 DO\n    SELECT i;\n  END FOR;\n"
        "  SELECT 1 FOR UPDATE;\nEND",
    "a CASE statement beside CASE expressions":
        "CREATE PROCEDURE p4(x INT)\nBEGIN\n  CASE x WHEN 1 THEN SELECT CASE WHEN x THEN 1 END;"
        "\n  ELSE SET x = CASE x WHEN 2 THEN IF(x, 1, 2) ELSE REPEAT('a', 2) END;\n"
        "  END CASE;\nEND",
    "REPEAT … UNTIL, labels, WHILE":
        "CREATE PROCEDURE p5()\nBEGIN\n  DECLARE i INT DEFAULT 0;\n  lbl: REPEAT SET i = i + 1;"
        " UNTIL i > 3 END REPEAT lbl;\n  WHILE i > 0 DO SET i = i - 1; END WHILE;\nEND",
    "a trigger body without BEGIN":
        "CREATE TRIGGER tr2 BEFORE UPDATE ON spans FOR EACH ROW IF NEW.start > 1 THEN "
        "SET NEW.start = 1; END IF",
}


def _client_statements(srv, database: str, sql: str) -> list[str]:
    done = subprocess.run(mysql_client(srv, "-vv", "--force", database),
                          input=sql.encode(), capture_output=True, check=False)
    out = done.stdout.decode()  # bytes: a CR stays a CR
    return [m.strip() for m in re.findall(r"^-{14}\n(.*?)\n-{14}$", out,
                                          flags=re.DOTALL | re.MULTILINE)]


def _client_database(srv, target, *setup: str) -> None:
    """Create the database the client's statements go to."""
    admin = connect(target, database=None)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{target.database}`")
        cur.execute(f"USE `{target.database}`")
        for sql in setup:
            cur.execute(sql)
    admin.close()


@pytest.mark.parametrize("case", CLIENT_CASES)
def test_the_mysql_client_splits_where_we_do(case, mysql_server, empty_db):
    sql = CLIENT_CASES[case]
    _client_database(mysql_server, empty_db)
    client = _client_statements(mysql_server, empty_db.database, sql)
    assert client, "the client echoed nothing"
    assert texts(sql) == client


@pytest.mark.parametrize("case", COMPOUND_CASES)
def test_compound_statements_without_delimiter_split_as_with_one(case, mysql_server,
                                                                 empty_db):
    body = COMPOUND_CASES[case]
    _client_database(mysql_server, empty_db,
                     "CREATE TABLE spans (start INT, `end` INT)")
    tail = "SELECT 'after';\n"
    client = _client_statements(mysql_server, empty_db.database,
                                f"DELIMITER $$\n{body}$$\nDELIMITER ;\n{tail}")
    assert client == [body, "SELECT 'after'"]
    assert texts(f"{body};\n{tail}") == client


def test_a_real_mariadb_dump_splits_where_the_client_splits(mysql_server, fresh_db, empty_db):
    """A dump of a deployed database with data, routines, triggers and events,
    made by the real mariadb-dump/mysqldump: sandbox line, /*!40101 … */
    settings, DELIMITER ;; and triggers in /*!50003 CREATE*/ form."""
    dump_command = mariadb_dump(mysql_server, fresh_db.database)
    seed = connect(fresh_db)
    with seed.cursor() as cur:
        cur.execute("INSERT INTO customers (name, email) VALUES ('Ann; O''Neil', 'a@example.com')")
        cur.execute("INSERT INTO service_tickets (customer_id, subject) "
                    "VALUES (LAST_INSERT_ID(), 'it''s /* not */ a comment -- really')")
    seed.close()
    dump = subprocess.run(dump_command, capture_output=True, check=True).stdout
    sql = dump.decode()
    assert "/*!50003 CREATE*/" in sql and "DELIMITER ;;" in sql
    _client_database(mysql_server, empty_db)
    client = _client_statements(mysql_server, empty_db.database, sql)
    # The client runs the sandbox line's `\-` itself and sends what is left,
    # `/*M!999999 … */` (a comment to every server before 99.99.99), glued to
    # the first statement; we leave the whole line out.
    client[0] = re.sub(r"^/\*M!999999 enable the sandbox mode \*/\s*", "", client[0])
    ours = texts(sql)
    assert len(ours) > 100
    assert ours == client
