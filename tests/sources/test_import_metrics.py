"""callreport_calls_imported_total (§12) moves by the calls PBX imports, --follow and pushes store."""

from __future__ import annotations

import pytest

from callreport.sources.follow import Follower
from callreport.sources.mapping import Mapping
from tests.factories import app_client, make_tenant, sample, scrape
from tests.sources.helpers import ONEX, OUTBOUND, URL, Cli, auth, make_source, outbound

IMPORTED = "callreport_calls_imported_total"
ORIGINATED = "freeswitch-onex-abhinav-freeswitch-debian-docker-3.json"  # one outbound call


@pytest.fixture
def metered(engine, settings, local_storage):
    with app_client(settings, engine, local_storage, metrics=True) as client:
        yield client


def moved(client, before: dict, pbx: str) -> float:
    return sample(scrape(client), IMPORTED, pbx=pbx) - sample(before, IMPORTED, pbx=pbx)


def test_cli_imports_count_the_calls_they_store(metered, engine, database_url, tmp_path):
    cli = Cli(database_url, tmp_path / "data")
    account = make_tenant(engine).account_id
    master = tmp_path / "Master.csv"
    master.write_text("".join(OUTBOUND))
    before = scrape(metered)
    assert cli.run("import", "asterisk-csv", str(master), "--account", account)["inserted"] == 3
    assert moved(metered, before, "asterisk") == 3
    # The same file again stores nothing: the counter stays.
    assert cli.run("import", "asterisk-csv", str(master), "--account", account)["skipped"] == 3
    assert moved(metered, before, "asterisk") == 3
    folder = tmp_path / "fs"
    folder.mkdir()
    (folder / "a.json").write_bytes((ONEX[0].parent / ORIGINATED).read_bytes())
    assert cli.run("import", "freeswitch-json", str(folder), "--account", account)["inserted"] == 1
    assert moved(metered, before, "freeswitch") == 1


def test_follow_counts_each_poll_it_commits(metered, engine, tmp_path):
    account = make_tenant(engine).account_id
    path = tmp_path / "Master.csv"
    path.write_text(outbound(1) + outbound(2))
    before = scrape(metered)
    follower = Follower(engine, account, path, Mapping())
    for _ in range(3):  # the last call of a poll waits until the file is quiet for one poll
        follower.step()
    follower.fh.close()
    assert follower.summary.inserted == 2
    assert moved(metered, before, "asterisk") == 2


def test_pushes_count_inserted_and_updated_calls(metered, engine):
    _, made = make_source(engine, include_internal=True)
    before = scrape(metered)
    assert metered.post(URL, content=ONEX[0].read_bytes(), headers=auth(made)).json()["stored"] is True
    assert moved(metered, before, "freeswitch") == 1  # the A leg: a new call
    assert metered.post(URL, content=ONEX[1].read_bytes(), headers=auth(made)).status_code == 200
    assert moved(metered, before, "freeswitch") == 2  # the B leg: the call rebuilt from both, updated
    assert metered.post(URL, content=ONEX[1].read_bytes(), headers=auth(made)).status_code == 200
    assert moved(metered, before, "freeswitch") == 2  # a duplicate post changes nothing
    assert metered.post(URL, content=ONEX[0].read_bytes(), headers=auth(made, "wrong")).status_code == 401
    assert moved(metered, before, "freeswitch") == 2
