"""source_legs is pruned: legs of calls whose last leg came over CALLREPORT_SOURCE_LEG_RETENTION_HOURS ago."""

from __future__ import annotations

import time

import sqlalchemy as sa

from callreport import db
from callreport.models import source_legs
from callreport.repo import sources as sources_repo
from callreport.sources import push
from tests.sources.helpers import ONEX, URL, auth, make_source

HOUR = 3600
DOC = {"variables": {}}  # what a leg holds does not matter to pruning


def keep(engine, source_id: str, key: str, leg_id: str, age: int) -> None:
    with db.writing(engine) as conn:
        sources_repo.keep_leg(conn, source_id, key, leg_id, DOC, int(time.time()) - age)


def kept(engine, source_id: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(source_legs.c.leg_id).where(source_legs.c.source_id == source_id)).scalars())


def test_old_calls_lose_their_legs_and_recent_ones_keep_all(engine):
    _, one = make_source(engine)
    _, other = make_source(engine)
    keep(engine, one["sourceId"], "old", "old-a", 30 * HOUR)
    keep(engine, one["sourceId"], "old", "old-b", 25 * HOUR)
    # An A leg kept 30 h, its B leg a minute ago: the call is recent, both legs stay.
    keep(engine, one["sourceId"], "late", "late-a", 30 * HOUR)
    keep(engine, one["sourceId"], "late", "late-b", 60)
    keep(engine, one["sourceId"], "new", "new-a", 23 * HOUR)
    keep(engine, other["sourceId"], "old", "other-a", 48 * HOUR)  # same key, another source: its own call
    with db.writing(engine) as conn:
        assert sources_repo.prune_legs(conn, int(time.time()) - 24 * HOUR) == 3
    assert kept(engine, one["sourceId"]) == {"late-a", "late-b", "new-a"}
    assert kept(engine, other["sourceId"]) == set()


def test_a_push_prunes_at_most_once_a_minute(client, engine, monkeypatch):
    _, made = make_source(engine)
    source = made["sourceId"]
    keep(engine, source, "gone", "gone-a", 25 * HOUR)  # default retention: 24 h
    monkeypatch.setitem(push._pruning, "at", time.monotonic() - push.PRUNE_EVERY)
    assert client.post(URL, content=ONEX[0].read_bytes(), headers=auth(made)).status_code == 200
    assert kept(engine, source) == {"51156b0b-f91b-4fd3-9c8f-15226f6098be"}
    keep(engine, source, "later", "later-a", 25 * HOUR)
    assert client.post(URL, content=ONEX[1].read_bytes(), headers=auth(made)).status_code == 200
    assert "later-a" in kept(engine, source)  # within the minute: not pruned again yet
