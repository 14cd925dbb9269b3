"""A binlog position as GTIDs: MariaDB's domain-server-seq list
("0-1-42,1-2-7") or MySQL's GTID set ("uuid:1-42"). The worker asks it two
things: does it already cover this transaction (a replay: skip it), and what
is it after this transaction."""

from __future__ import annotations

from pymysqlreplication.gtid import Gtid, GtidSet


class MariaPosition:
    def __init__(self, text: str = "") -> None:
        self.domains: dict[int, tuple[int, int]] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            domain, server, seq = (int(x) for x in part.split("-"))
            self.domains[domain] = (server, seq)

    def covers(self, gtid: str) -> bool:
        domain, _server, seq = (int(x) for x in gtid.split("-"))
        known = self.domains.get(domain)
        return known is not None and seq <= known[1]

    def advance(self, gtid: str) -> None:
        domain, server, seq = (int(x) for x in gtid.split("-"))
        self.domains[domain] = (server, seq)

    def seq(self) -> int:
        return sum(seq for _server, seq in self.domains.values())

    def __str__(self) -> str:
        return ",".join(f"{d}-{s}-{n}" for d, (s, n) in sorted(self.domains.items()))


class MysqlPosition:
    def __init__(self, text: str = "") -> None:
        self.gtids = GtidSet(text.replace("\n", "") or None)

    def covers(self, gtid: str) -> bool:
        return Gtid(gtid) in self.gtids

    def advance(self, gtid: str) -> None:
        self.gtids = self.gtids + Gtid(gtid)

    def seq(self) -> int:
        return sum(end - start for g in self.gtids.gtids for start, end in g.intervals)

    def __str__(self) -> str:
        return str(self.gtids)


Position = MariaPosition | MysqlPosition


def parse(text: str, mariadb: bool) -> Position:
    return MariaPosition(text) if mariadb else MysqlPosition(text)
