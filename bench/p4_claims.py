"""P4: sp_claim_next_ticket with 8 concurrent agents against 1."""

import multiprocessing
import time

import pymysql
from harness import Figure, q, quiesce

from ticketdb.connection import Target, connect


def _claim_agent(target: Target, agent_id: int, start_at: float, stop_at: float,
                 results: multiprocessing.Queue) -> None:
    """One agent, in a process of its own (as agents are): claim until stop_at."""
    claimed: list[int] = []
    deadlocks = 0
    dry = False
    conn = connect(target)
    try:
        time.sleep(max(0.0, start_at - time.time()))
        while time.time() < stop_at:
            try:
                q(conn, "CALL sp_claim_next_ticket(%s, @t)", (agent_id,))
                got = q(conn, "SELECT @t")[0][0]
            except pymysql.err.OperationalError as exc:
                if exc.args[0] not in (1205, 1213):
                    raise
                deadlocks += 1
                continue
            if got is None:
                dry = True
                break
            claimed.append(got)
    finally:
        conn.close()
        results.put((claimed, deadlocks, dry, time.time()))


def p4_claims(target: Target, seconds: float) -> Figure:
    conn = connect(target)
    agents = [r[0] for r in q(conn, "SELECT agent_id FROM agents WHERE is_active LIMIT 8")]
    # Processes, not threads: eight threads of one Python process would share
    # one interpreter lock and measure the client, not the database.
    ctx = multiprocessing.get_context("fork")
    dry = [False]  # the queue ran out: the dataset is too small for the measurement

    def run(n_agents: int) -> tuple[float, list[int], int]:
        quiesce(conn)
        results = ctx.Queue()
        start_at = time.time() + 0.5  # every agent connected before the clock starts
        procs = [ctx.Process(target=_claim_agent,
                             args=(target, agents[i % len(agents)], start_at,
                                   start_at + seconds, results))
                 for i in range(n_agents)]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=seconds + 120) for _ in procs]
        for proc in procs:
            proc.join()
            if proc.exitcode != 0:
                raise RuntimeError(f"a P4 agent failed (exit code {proc.exitcode})")
        claimed = [t for c, _, _, _ in outcomes for t in c]
        dry[0] = dry[0] or any(d for _, _, d, _ in outcomes)
        ended = max(e for _, _, _, e in outcomes)
        return len(claimed) / (ended - start_at), claimed, sum(d for _, d, _, _ in outcomes)

    single, eight = [], []
    for _ in range(3):  # interleaved, so that neither side gets only the queue's tail
        single.append(run(1))
        eight.append(run(8))
    conn.close()
    claimed = [t for _, c, _ in single + eight for t in c]
    twice = len(claimed) - len(set(claimed))
    deadlocks = sum(d for _, _, d in single + eight)
    fig = Figure("P4", "sp_claim_next_ticket, 8 concurrent agents, one process each (claims/s)",
                 "the same with 1 agent", [r for r, _, _ in eight], [r for r, _, _ in single],
                 unit="claims/s", goal="≥ 1×; none claimed twice")
    fig.notes.append(f"claimed twice: {twice}; deadlocks or lock timeouts: {deadlocks}; "
                     f"{len(claimed)} claims in all")
    fig.passed = fig.ratio >= 1.0 and twice == 0
    if dry[0]:
        fig.notes.append("the queue of pending tickets ran out during the runs: the rates "
                         "are not comparable; use more tickets")
        fig.passed = None if twice == 0 else False
    return fig
