"""Golden tests for the statement splitter: the cases other tools got wrong."""

from __future__ import annotations

import pytest

from ticketdb.sources import all_files
from ticketdb.splitter import SplitError, split


def texts(sql: str) -> list[str]:
    return [s.text for s in split(sql)]


def test_hash_and_semicolon_inside_strings_and_comments():
    sql = ("INSERT INTO t VALUES ('a # b; c', \"d; -- e\", `odd;name`);\n"
           "# a comment; with a semicolon\n"
           "-- another; one\n"
           "/* block; comment */ SELECT 'it''s; fine', 'back\\'slash;';\n")
    assert texts(sql) == [
        "INSERT INTO t VALUES ('a # b; c', \"d; -- e\", `odd;name`)",
        "SELECT 'it''s; fine', 'back\\'slash;'",
    ]


def test_double_dash_needs_a_space_to_be_a_comment():
    assert texts("SELECT 5--1;\nSELECT 2 -- c;\n;") == ["SELECT 5--1", "SELECT 2"]


def test_end_with_no_space_before_the_delimiter():
    sql = "DELIMITER $$\nCREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\nEND$$\nDELIMITER ;\nSELECT 2;"
    assert texts(sql) == ["CREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\nEND", "SELECT 2"]


def test_delimiter_slash_slash():
    sql = ("DELIMITER //\nCREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW\n"
           "BEGIN SET NEW.a = 1; END //\nDELIMITER ;\nSELECT 1;")
    assert texts(sql) == [
        "CREATE TRIGGER x BEFORE INSERT ON t FOR EACH ROW\nBEGIN SET NEW.a = 1; END", "SELECT 1"]


def test_repeat_until_and_the_repeat_function():
    sql = ("CREATE PROCEDURE p()\nBEGIN\n  DECLARE i INT DEFAULT 0;\n"
           "  REPEAT SET i = i + 1; UNTIL i > 3 END REPEAT;\n  SELECT REPEAT('x', 3);\nEND;\n"
           "SELECT 3;")
    result = texts(sql)
    assert len(result) == 2 and result[0].endswith("SELECT REPEAT('x', 3);\nEND")


def test_the_if_function_beside_the_if_statement():
    sql = ("CREATE PROCEDURE p(x INT)\nBEGIN\n"
           "  IF (x > 1) THEN SELECT IF(x > 2, 'a', 'b'); ELSEIF x = 0 THEN SELECT 0; END IF;\n"
           "  CASE x WHEN 1 THEN SELECT 1; ELSE BEGIN END; END CASE;\n"
           "  lbl: LOOP LEAVE lbl; END LOOP lbl;\n"
           "  WHILE x > 0 DO SET x = x - 1; END WHILE;\nEND;\n"
           "DROP TABLE IF EXISTS t;\nCREATE TABLE IF NOT EXISTS t (a INT);")
    result = texts(sql)
    assert len(result) == 3, result
    assert result[1:] == ["DROP TABLE IF EXISTS t", "CREATE TABLE IF NOT EXISTS t (a INT)"]


def test_case_expression_in_a_plain_statement():
    assert texts("SELECT CASE WHEN 1 THEN 'a' END AS x; SELECT 2;") == [
        "SELECT CASE WHEN 1 THEN 'a' END AS x", "SELECT 2"]


def test_a_transaction_begin_is_not_a_block():
    assert texts("BEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;") == [
        "BEGIN", "INSERT INTO t VALUES (1)", "COMMIT"]


def test_a_file_with_no_trailing_newline_or_delimiter():
    assert texts("SELECT 1;\nSELECT 2") == ["SELECT 1", "SELECT 2"]


def test_versioned_comments_and_hints_are_kept():
    assert texts("/*!40101 SET NAMES utf8mb4 */;\nSELECT /*+ MAX_EXECUTION_TIME(1) */ 1;") == [
        "/*!40101 SET NAMES utf8mb4 */", "SELECT /*+ MAX_EXECUTION_TIME(1) */ 1"]


def test_statement_numbers_and_lines():
    stmts = split("-- header\n\nSELECT 1;\n\nSELECT\n  2;\n")
    assert [(s.number, s.line) for s in stmts] == [(1, 3), (2, 5)]


def test_crlf_files_split_like_lf_files():
    assert texts("SELECT 1;\r\nSELECT 2;\r\n") == ["SELECT 1", "SELECT 2"]


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT 'abc;", "line 1: unterminated ' string"),
    ("SELECT 1;\nSELECT `abc", "line 2: unterminated ` string"),
    ("SELECT 1; /* never closed", r"unterminated /\* comment"),
    ("CREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\n", "line 2: block opened here is never closed"),
])
def test_unterminated_input_is_an_error(sql, message):
    with pytest.raises(SplitError, match=message):
        split(sql)


def test_every_project_file_splits_into_what_the_mysql_client_would_send():
    for f in all_files():
        for st in f.statements:
            assert st.text.strip() == st.text and st.text, f.path
            assert not st.text.upper().startswith("DELIMITER"), f.path
        creates = [s for s in f.statements if s.text.upper().startswith("CREATE")]
        assert len(creates) == 1 or f.kind == "versioned", f.path


def test_a_byte_order_mark_is_not_sent():
    assert texts("\ufeffSELECT 1;\nSELECT 2;") == ["SELECT 1", "SELECT 2"]


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT 1;\nsource other.sql\nSELECT 2;", r"line 2: 'source' is a mysql client command"),
    ("SELECT 1;\n\\. other.sql\n", r"line 2: '\\\\\.' is a mysql client command"),
    ("SELECT 1;\nuse other_db\nSELECT 2;", "line 2: USE switches to another database"),
    ("USE other_db;\nSELECT 2;", "line 1: USE switches"),
    ("SELECT 1;\n  \\- x\n", r"line 2: '\\\\-' is a mysql client command"),
    ("SELECT 1 \\G\n", r"line 1: '\\\\G' is a mysql client command"),
])
def test_client_commands_are_refused_with_their_line(sql, message):
    with pytest.raises(SplitError, match=message):
        split(sql)


def test_splitting_is_linear():
    """One 2 MB INSERT and 2 MB of small INSERTs split in well under a second
    each (they took 10 s when the splitter was quadratic); `make bench` P8
    measures the ratio."""
    big = "INSERT INTO t VALUES " + ", ".join(f"({i}, 'v{i};')" for i in range(150_000)) + ";"
    small = "".join(f"INSERT INTO t VALUES ({i}, 'x');\n" for i in range(70_000))
    assert len(big) > 2_000_000 and len(small) > 2_000_000
    assert len(split(big)) == 1
    assert len(split(small)) == 70_000
