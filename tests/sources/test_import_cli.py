"""`callreport import asterisk-csv | freeswitch-json` end to end, on both databases (§8, §11)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from callreport.models import calls
from callreport.sources import demo_pbx
from tests.factories import call, make_tenant
from tests.sources.helpers import OUTBOUND, Cli, corpus

FREEPBX = corpus("asterisk-cdr-table-oscar6262-freepbx-calls-history.csv")
FS_DOCS = [corpus(f"freeswitch-cgrates-{i}.json") for i in range(1, 6)]


BAD = OUTBOUND[0].replace("1.1", "1.9").replace(",65,60,", ",sixty,60,")


@pytest.fixture
def cli(database_url, tmp_path) -> Cli:
    return Cli(database_url, tmp_path / "data")


def stored(engine, account_id: str) -> dict[str, sa.Row]:
    with engine.connect() as conn:
        return {r.call_id: r for r in conn.execute(sa.select(calls).where(calls.c.account_id == account_id))}


def test_a_real_file_twice_changes_nothing(cli, engine):
    account = make_tenant(engine).account_id
    first = cli.run("import", "asterisk-csv", str(FREEPBX), "--account", account)
    # The file's zero-date rows (placeholders MySQL writes, lines 403 on) are reported, the rest loaded.
    assert first["inserted"] > 300 and first["rejected"] > 0 and first["updated"] == 0
    assert first["errors"][0] == {"line": 403, "reason": first["errors"][0]["reason"]}
    assert "1000-01-01" in first["errors"][0]["reason"]
    rows = stored(engine, account)
    assert len(rows) == first["inserted"]
    before = {k: (r.updated_at, r.status, r.events) for k, r in rows.items()}
    second = cli.run("import", "asterisk-csv", str(FREEPBX), "--account", account)
    assert second == {**first, "inserted": 0, "skipped": first["skipped"] + first["inserted"]}
    after = stored(engine, account)
    assert {k: (r.updated_at, r.status, r.events) for k, r in after.items()} == before  # not even rewritten


def test_bad_row_reported_with_its_line_and_the_rest_loaded(cli, engine, tmp_path):
    account = make_tenant(engine).account_id
    path = tmp_path / "Master.csv"
    path.write_text(OUTBOUND[0] + OUTBOUND[1] + BAD + OUTBOUND[2])
    out = cli.run("import", "asterisk-csv", str(path), "--account", account)
    assert list(out) == ["inserted", "updated", "skipped", "rejected", "errors"]
    assert out["inserted"] == 3 and out["rejected"] == 1 and out["skipped"] == 0
    assert [e["line"] for e in out["errors"]] == [3] and "'sixty'" in out["errors"][0]["reason"]
    rows = stored(engine, account)
    assert {k: (r.status, r.customer_number, r.agent_id, r.did_number, r.talk_duration) for k, r in rows.items()} == {
        "1.1": ("answered", "0612345678", "2001", "", 60),  # outbound: no DID, stored as ""
        "1.2": ("busy", "0612345679", "2001", "", 0),
        "1.3": ("noanswer", "0612345670", "2001", "", 0),
    }
    # The PBX's zone is the account's (UTC here): 10:00:00 is 1740823200.
    assert rows["1.1"].start_ts == 1740823200 and rows["1.1"].end_ts == 1740823265


def test_strict_stores_nothing_when_a_row_is_bad(cli, engine, tmp_path):
    account = make_tenant(engine).account_id
    path = tmp_path / "Master.csv"
    path.write_text("".join(OUTBOUND) + BAD)
    out = cli.run("import", "asterisk-csv", str(path), "--account", account, "--strict", code=1)
    assert out["rejected"] == 1 and out["errors"][0]["line"] == 4
    assert stored(engine, account) == {}
    path.write_text("".join(OUTBOUND))
    assert cli.run("import", "asterisk-csv", str(path), "--account", account, "--strict")["inserted"] == 3


def test_timezone_option_names_the_pbx_zone(cli, engine, tmp_path):
    account = make_tenant(engine).account_id
    path = tmp_path / "Master.csv"
    path.write_text(OUTBOUND[0])
    cli.run("import", "asterisk-csv", str(path), "--account", account, "--timezone", "Asia/Kolkata")
    assert stored(engine, account)["1.1"].start_ts == 1740823200 - 5 * 3600 - 1800  # 10:00 IST is 04:30 UTC


def test_accountcode_routes_calls_to_tenants(cli, engine, tmp_path):
    home, a, b = (make_tenant(engine).account_id for _ in range(3))
    path = tmp_path / "Master.csv"
    rows = [OUTBOUND[0].replace('""', '"acme"', 1), OUTBOUND[1].replace('""', '"globex"', 1), OUTBOUND[2]]
    assert rows[0].startswith('"acme"') and rows[1].startswith('"globex"')
    path.write_text("".join(rows))
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(f'[accounts]\nacme = "{a}"\nglobex = "{b}"\n')
    out = cli.run("import", "asterisk-csv", str(path), "--account", home, "--mapping", str(mapping))
    assert out["inserted"] == 3
    assert (set(stored(engine, a)), set(stored(engine, b)), set(stored(engine, home))) == ({"1.1"}, {"1.2"}, {"1.3"})
    mapping.write_text('[accounts]\nacme = "000000000000000000000000"\n')
    out = cli.run("import", "asterisk-csv", str(path), "--account", home, "--mapping", str(mapping), code=1)
    assert "000000000000000000000000" in out["message"]


def test_freeswitch_files_twice_and_a_bad_document_by_file(cli, engine, tmp_path):
    account = make_tenant(engine).account_id
    bad = tmp_path / "broken.cdr.json"
    bad.write_text('{"variables": {"uuid": "x"}}')
    paths = [str(p) for p in FS_DOCS] + [str(bad)]
    first = cli.run("import", "freeswitch-json", *paths, "--account", account, "--include-internal")
    assert first["rejected"] == 1 and first["errors"] == [
        {"file": "broken.cdr.json", "reason": first["errors"][0]["reason"]}
    ]
    assert first["inserted"] >= 1 and first["inserted"] == len(stored(engine, account))
    second = cli.run("import", "freeswitch-json", *paths, "--account", account, "--include-internal")
    assert second["inserted"] == 0 and second["updated"] == 0 and len(stored(engine, account)) == first["inserted"]


def test_unknown_account_and_missing_file_are_errors(cli, engine, tmp_path):
    account = make_tenant(engine).account_id
    assert (
        "no such file"
        in cli.run("import", "asterisk-csv", str(tmp_path / "nope.csv"), "--account", account, code=1)["message"]
    )
    path = tmp_path / "Master.csv"
    path.write_text(OUTBOUND[0])
    assert "no account" in cli.run("import", "asterisk-csv", str(path), "--account", "x" * 24, code=1)["message"]


@pytest.mark.parametrize("hour", [0, 8, 9, 12, 17, 18, 23])
def test_the_pbx_demo_makes_every_call_asked_for_in_business_hours_past_at_any_time_of_day(monkeypatch, hour):
    zone = ZoneInfo("Asia/Kolkata")
    now = datetime(2026, 12, 2, hour, 30, tzinfo=zone).timestamp()
    monkeypatch.setattr(demo_pbx.time, "time", lambda: now)
    starts = [start for _, _, start, _ in demo_pbx._calls(300, 3, zone)]
    assert len(starts) == 300 and max(starts) < now
    local = [datetime.fromtimestamp(t, zone) for t in starts]
    assert all(9 * 60 <= t.hour * 60 + t.minute <= 18 * 60 for t in local)
    assert len({t.date() for t in local}) == 3


@pytest.mark.parametrize("pbx", ["asterisk", "freeswitch"])
def test_demo_from_a_pbx_gives_calls_reportcount_finds(cli, client, pbx):
    out = cli.run("demo", "--from", pbx, "--calls", "300", "--days", "3")
    creds = {"userId": out["userId"], "token": out["token"], "startDate": "2000-01-01", "endDate": "2100-01-01"}

    def count(**filters) -> int:
        answer = call(client, "reportCount", {**creds, **filters})
        assert answer["status"] == "success", answer
        return answer["count"]

    assert count() == out["calls"] >= 300
    statuses = {s: count(statuses=[s]) for s in ("answered", "missed", "busy", "noanswer", "failed")}
    assert all(n > 0 for n in statuses.values()), statuses  # queues, abandoned calls, busy and unanswered outbound
    assert count(callTypes=["queue"], directions=["inbound"]) > 0
    assert count(callTypes=["manual"], directions=["outbound"]) > 0
