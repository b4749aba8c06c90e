"""The crash tier: ingests, syncs and repairs killed at random points (SIGKILL, and
SIGINT for a quarter), the store checked after each (issue 19).

After every kill and every completed write: every item of the last completed catalogue
that no write since was asked to delete is stored with a title some write gave it, found
by its own text with exactly its group's stored versions as variants; nothing is stored
that no write wrote; the count, the ids and the vector index agree; a completed write
leaves no "cut short" mark. Seeded (``POLYRANK_CRASH_SEED``); every kill is logged.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from polyrank.retrieval import Item
from tests._fakes import item

#: Kills to make (POLYRANK_CRASH_KILLS overrides); with the catalogue below a write, its
#: kill and the check take ~1.6 s on 2 cores: 60 kills in about 110 s.
KILLS = int(os.environ.get("POLYRANK_CRASH_KILLS", "60"))
GROUPS = 120
LANGUAGES = ("en", "de", "fr", "es", "it", "ja", "ko", "pt")

pytestmark = [pytest.mark.slow, pytest.mark.crash]


def _write_catalogue(path: Path, items: dict[str, Item]) -> None:
    path.write_text("".join(i.model_dump_json() + "\n" for i in items.values()))


def _next_catalogue(rng: random.Random, current: dict[str, Item], op: str) -> dict[str, Item]:
    """The catalogue a write is given: new language versions of some groups and new
    titles for some items; for a sync, also some items left out."""
    if op == "repair":
        return dict(current)
    out = dict(current)
    for g in rng.sample(range(GROUPS), GROUPS // 4):
        lang = rng.choice(LANGUAGES)
        out[f"g{g}-{lang}"] = item(f"g{g}-{lang}", f"g{g}", lang)
    for item_id in rng.sample(sorted(out), min(len(out), 20)):
        old = out[item_id]
        out[item_id] = old.model_copy(
            update={"title": f"{old.title.split(' #')[0]} #{rng.randrange(10**6)}"}
        )
    if op == "sync":
        for item_id in rng.sample(sorted(out), len(out) // 6):
            del out[item_id]
    return out


@pytest.fixture
def forkserver() -> Iterator[Any]:
    """A multiprocessing context whose server imported chromadb and polyrank once (a
    child then starts in milliseconds, not the 1-4 s of those imports), stopped after."""
    import multiprocessing.forkserver

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests._crash_worker"])
    try:
        yield ctx
    finally:
        multiprocessing.forkserver._forkserver._stop()  # type: ignore[attr-defined]


def test_writes_killed_at_random_points_leave_a_whole_store(
    tmp_path: Path, forkserver: Any
) -> None:
    from tests import _crash_worker

    seed = int(os.environ.get("POLYRANK_CRASH_SEED", "19"))
    rng = random.Random(seed)
    ctx = forkserver
    folder = str(tmp_path / "store")
    committed = {i.id: i for g in range(GROUPS) for i in [item(f"g{g}-en", f"g{g}", "en")]}
    titles: dict[str, set[str]] = {i: {x.title} for i, x in committed.items()}
    maybe_gone: set[str] = set()  # ids a write cut short was asked to delete
    maybe_there: set[str] = set()  # ids a write cut short may have added
    took: dict[str, float] = {}  # each write's usual seconds, child start to exit
    kills = cycles = repairs_asked = reopened = 0
    log: list[str] = []

    def run(target: Any, *args: str) -> multiprocessing.process.BaseProcess:
        proc = ctx.Process(target=target, args=args)
        proc.start()
        return proc

    first = tmp_path / "first.jsonl"
    _write_catalogue(first, committed)
    proc = run(_crash_worker.write, "ingest", folder, str(first))
    proc.join(120)
    assert proc.exitcode == 0
    calibrate = ["ingest", "sync", "repair"]  # first run once each, unkilled, timed
    while kills < KILLS:
        cycles += 1
        assert cycles <= 3 * KILLS, f"too few kills landed: {kills} in {cycles} writes"
        op = calibrate.pop(0) if calibrate else rng.choice(["ingest", "ingest", "sync", "repair"])
        attempted = _next_catalogue(rng, committed, op)
        path = tmp_path / f"c{cycles}.jsonl"
        _write_catalogue(path, attempted)
        delay = rng.uniform(0.0, 1.3 * took[op]) if op in took else 120.0
        how = rng.choice([signal.SIGKILL, signal.SIGKILL, signal.SIGKILL, signal.SIGINT])
        started = time.monotonic()
        proc = run(_crash_worker.write, op, folder, str(path))
        proc.join(delay)
        killed = proc.exitcode is None
        if killed:
            try:
                os.kill(proc.pid, how)  # type: ignore[arg-type]
            except ProcessLookupError:
                # It ended between the join's timeout and the kill (the forkserver had
                # reaped it already): a write that completed, not one cut short.
                killed = False
            proc.join(10)
            if proc.exitcode is None:
                proc.kill()
                proc.join(10)
        if killed:
            kills += 1
        else:
            spent = time.monotonic() - started
            took[op] = 0.7 * took[op] + 0.3 * spent if op in took else spent
            assert proc.exitcode == 0, f"{op} failed on its own (exit {proc.exitcode})"
        for item_id, x in attempted.items():
            titles.setdefault(item_id, set()).add(x.title)
        if killed and op != "repair":
            maybe_gone |= set(committed) - set(attempted) if op == "sync" else set()
            maybe_there |= set(attempted) - set(committed)
        elif not killed and op != "repair":
            committed = attempted
            maybe_gone = set()
            maybe_there = set() if op == "sync" else maybe_there
        expected = {
            "required": {i: sorted(titles[i]) for i in committed if i not in maybe_gone},
            "allowed": sorted(maybe_there | set(committed)),
            "completed": not killed,
            "sample": rng.sample(sorted(committed), min(25, len(committed))),
        }
        spec, report = tmp_path / "expected.json", tmp_path / "report.json"
        spec.write_text(json.dumps(expected))
        report.unlink(missing_ok=True)
        checker = run(_crash_worker.check, folder, str(spec), str(report))
        checker.join(180)
        assert checker.exitcode == 0, f"the check itself failed after {log[-3:]}"
        result = json.loads(report.read_text())
        repairs_asked += bool(result["repaired"])
        reopened += bool(result["reopened"])
        what = (
            f"{op} {'killed (' + signal.Signals(how).name + ')' if killed else 'completed'}"
            f" at {delay:.2f}s, {len(committed)} items"
        )
        log.append(what)
        print(
            f"crash tier {cycles}: {what}: "
            + ("ok" if not result["failed"] else "; ".join(result["failed"]))
        )
        assert not result["failed"], f"after {what}: {result['failed']}"
    print(
        f"crash tier: seed {seed}, {kills} kills in {cycles} writes, invariants held after "
        f"every one ({repairs_asked} needed the --repair the error asked for; after "
        f"{reopened} Chroma's first index in the checking process was short and the "
        "store's search reopened it)"
    )
