"""P8: the splitter on an 8 MB dump-like file against a 2 MB one (no server)."""



from harness import Figure, timed

from ticketdb.splitter import split


def _dump_like(size: int) -> str:
    """SQL shaped like a mysqldump file: settings in executable comments, a
    procedure under DELIMITER, multi-row INSERTs of about 64 KB and small ones."""
    head = ("/*!40101 SET NAMES utf8mb4 */;\n/*!40103 SET TIME_ZONE='+00:00' */;\n"
            "DELIMITER ;;\nCREATE PROCEDURE p() BEGIN SELECT 1; END ;;\nDELIMITER ;\n")
    parts, total, i = [head], len(head), 0
    while total < size:
        if i % 2:
            text = ("INSERT INTO t VALUES " + ",".join(
                f"({i * 1000 + k},'row {k}; it''s \\'quoted\\'',NULL)" for k in range(1500))
                + ";\n")
        else:
            text = "".join(f"INSERT INTO t VALUES ({i * 1000 + k},'x -- y',1);\n"
                           for k in range(1500))
        parts.append(text)
        total += len(text)
        i += 1
    return "".join(parts)


def p8_split(repeat: int) -> Figure:
    """The splitter is linear: an 8 MB file takes about 4 times as long as a 2 MB one."""
    small, big = _dump_like(2 * 2**20), _dump_like(8 * 2**20)
    fig = Figure("P8", "split an 8 MB dump-shaped file", "split a 2 MB one",
                 [timed(lambda: split(big)) for _ in range(repeat)],
                 [timed(lambda: split(small)) for _ in range(repeat)],
                 goal="≤ 4.5× (linear)")
    fig.passed = fig.ratio <= 4.5
    fig.notes.append(f"{len(big) / 2**20 / fig.median:.1f} MB/s on the 8 MB file "
                     f"({len(split(big)):,} statements)")
    return fig
