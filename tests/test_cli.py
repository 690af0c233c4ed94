"""The command line (§8) on SQLite and PostgreSQL, and the reference's curl command against `serve`."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from callreport import auth, db, errors
from callreport.app import create_app
from callreport.cli import app as cli_app
from callreport.models import accounts, calls, users
from callreport.settings import Settings
from tests.factories import call, fresh_pg_database
from tests.fixtures.procs import serving
from tests.fixtures.s3 import free_port

HEX24 = "0123456789abcdef"


@dataclass
class Cli:
    """A CLI bound to one database through the environment, and an engine to check what it did."""

    env: dict[str, str | None]
    settings: Settings
    engine: sa.Engine

    def run(self, *args: str, code: int = 0) -> dict:
        """Run a command with --json; return the one JSON object it printed."""
        result = CliRunner().invoke(cli_app, [*args, "--json"], env=self.env)
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        lines = result.stdout.strip().splitlines()
        assert len(lines) == 1, result.stdout
        out = json.loads(lines[0])
        assert isinstance(out, dict)
        return out


def _fresh_pg() -> Iterator[str]:
    with fresh_pg_database("callreport_cli") as url:
        # The plain postgresql:// form users write; the service picks the driver.
        yield "postgresql://" + url.split("://", 1)[1]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cli(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    data_dir = tmp_path_factory.mktemp("cli-data")
    env: dict[str, str | None] = {
        "CALLREPORT_DATA_DIR": str(data_dir),
        "CALLREPORT_DATABASE_URL": None,
        "CALLREPORT_STORAGE_URL": None,
        "CALLREPORT_SESSION_TTL_SECONDS": None,
    }
    pg = _fresh_pg() if request.param == "postgresql" else None
    if pg is not None:
        env["CALLREPORT_DATABASE_URL"] = next(pg)
    settings = Settings(data_dir=data_dir, database_url=env["CALLREPORT_DATABASE_URL"], embedded_worker=False)
    engine = db.make_engine(settings.resolved_database_url())
    yield Cli(env, settings, engine)
    engine.dispose()
    if pg is not None:
        pg.close()


def record(call_id: str, **over) -> dict:
    """A valid call record."""
    rec = {
        "callId": call_id,
        "startTime": "2024-07-01 10:00:00",
        "endTime": "2024-07-01 10:03:00",
        "duration": 180,
        "talkDuration": 150,
        "direction": "outbound",
        "callType": "click2call",
        "status": "answered",
        "callerNumber": "+44 20 7946 0000",
        "customerNumber": "07700-900123",
        "didNumber": "+442079460001",
        "agentId": "A1",
        "agentName": "Ada",
    }
    return {**rec, **over}


def write_jsonl(path: Path, lines: list[dict | str]) -> Path:
    """One record (or raw text) per line."""
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def new_account(cli: Cli, tz: str = "Asia/Kolkata") -> str:
    return cli.run("account", "create", f"Acme {secrets.token_hex(3)}", "--timezone", tz)["accountId"]


def stored(cli: Cli, account_id: str) -> dict[str, str | None]:
    """callId -> agentName of the account's calls, read from the database."""
    with cli.engine.connect() as conn:
        rows = conn.execute(sa.select(calls.c.call_id, calls.c.agent_name).where(calls.c.account_id == account_id))
        return {r.call_id: r.agent_name for r in rows}


# --- accounts, users, tokens, sessions -----------------------------------------------------------


def test_account_create_prints_exactly_its_id(cli):
    out = cli.run("account", "create", "Acme Kolkata", "--timezone", "Asia/Kolkata")
    assert set(out) == {"accountId"}
    assert len(out["accountId"]) == 24 and set(out["accountId"]) <= set(HEX24)
    with cli.engine.connect() as conn:
        row = conn.execute(sa.select(accounts).where(accounts.c.id == out["accountId"])).one()
    assert (row.name, row.timezone) == ("Acme Kolkata", "Asia/Kolkata")
    default = cli.run("account", "create", "Plain")["accountId"]
    with cli.engine.connect() as conn:
        assert conn.execute(sa.select(accounts.c.timezone).where(accounts.c.id == default)).scalar() == "UTC"


def test_user_token_and_session_lifecycle(cli):
    account_id = new_account(cli)
    username = f"agent-{secrets.token_hex(4)}"
    out = cli.run(
        "user",
        "create",
        "--account",
        account_id,
        "--username",
        username,
        "--password",
        "s3cret-pw",
        "--permission",
        "LIST_CALL_LOG",
        "--permission",
        "VIEW_NUMBER",
        "--agents",
        "A1,B2",
    )
    assert set(out) == {"userId"}
    user_id = out["userId"]
    with cli.engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.id == user_id)).one()
    assert (row.account_id, row.username, list(row.agents)) == (account_id, username, ["A1", "B2"])
    assert set(row.permissions.split(",")) == {"LIST_CALL_LOG", "VIEW_NUMBER"}

    token = cli.run("token", "create", "--user", user_id)
    assert set(token) == {"userId", "token"} and token["userId"] == user_id
    before = time.time()
    session = cli.run("session", "create", "--user", user_id)
    assert set(session) == {"ssid", "expiresAt"}
    expires = datetime.fromisoformat(session["expiresAt"])
    assert expires.utcoffset() == timedelta(hours=5, minutes=30)  # shown in the account's timezone
    assert abs(expires.timestamp() - (before + 86400)) < 5

    with cli.engine.connect() as conn:
        who = auth.authenticate(conn, {"userId": user_id, "token": token["token"]})
        assert auth.authenticate(conn, {"ssid": session["ssid"]}).user_id == user_id
    assert (who.account_id, who.permissions, who.agents) == (
        account_id,
        frozenset({"LIST_CALL_LOG", "VIEW_NUMBER"}),
        ("A1", "B2"),
    )

    assert cli.run("token", "revoke", "--user", user_id) == {"revoked": 1}
    with cli.engine.connect() as conn, pytest.raises(errors.InvalidToken):
        auth.authenticate(conn, {"userId": user_id, "token": token["token"]})
    with cli.engine.connect() as conn:  # sessions are another kind
        assert auth.authenticate(conn, {"ssid": session["ssid"]}).user_id == user_id
    assert cli.run("session", "revoke", "--user", user_id) == {"revoked": 1}
    with cli.engine.connect() as conn, pytest.raises(errors.InvalidToken):
        auth.authenticate(conn, {"ssid": session["ssid"]})
    assert cli.run("session", "revoke", "--user", user_id) == {"revoked": 0}


def test_token_with_expiry(cli):
    account_id = new_account(cli, "UTC")
    user_id = cli.run(
        "user",
        "create",
        "--account",
        account_id,
        "--username",
        f"t-{secrets.token_hex(4)}",
        "--password",
        "pw",
    )["userId"]
    out = cli.run("token", "create", "--user", user_id, "--expires-days", "2")
    assert {"userId", "token"} <= set(out)
    with cli.engine.connect() as conn:
        who = auth.authenticate(conn, {"userId": user_id, "token": out["token"]})
    assert who.permissions == frozenset()


@pytest.mark.parametrize(
    "args",
    [
        ["account", "create", "Nowhere", "--timezone", "Mars/Olympus_Mons"],
        ["user", "create", "--account", "f" * 24, "--username", "orphan", "--password", "pw"],
        ["token", "create", "--user", "e" * 24],
        ["session", "create", "--user", "e" * 24],
        ["ingest", "no-such-file.jsonl", "--account", "f" * 24],
    ],
)
def test_bad_input_exits_1_with_a_json_error(cli, args):
    out = cli.run(*args, code=1)
    assert out["status"] == "error" and isinstance(out["message"], str) and out["message"]


def test_session_ttl_comes_from_the_environment(cli):
    account_id = new_account(cli, "UTC")
    user_id = cli.run(
        "user",
        "create",
        "--account",
        account_id,
        "--username",
        f"s-{secrets.token_hex(4)}",
        "--password",
        "pw",
    )["userId"]
    short = Cli({**cli.env, "CALLREPORT_SESSION_TTL_SECONDS": "120"}, cli.settings, cli.engine)
    before = time.time()
    expires = datetime.fromisoformat(short.run("session", "create", "--user", user_id)["expiresAt"])
    assert expires.utcoffset() == timedelta(0)
    assert abs(expires.timestamp() - (before + 120)) < 5


def test_without_json_the_output_is_text(cli):
    result = CliRunner().invoke(cli_app, ["account", "create", "Texty"], env=cli.env)
    assert result.exit_code == 0
    account_id = result.stdout.split()[-1]
    with cli.engine.connect() as conn:
        assert conn.execute(sa.select(accounts.c.name).where(accounts.c.id == account_id)).scalar() == "Texty"


def test_bad_permission_and_taken_username_exit_1(cli):
    account_id = new_account(cli)
    name = f"dup-{secrets.token_hex(4)}"
    base = ["user", "create", "--account", account_id, "--username", name, "--password", "pw"]
    assert "MAKE_COFFEE" in cli.run(*base, "--permission", "MAKE_COFFEE", code=1)["message"]
    cli.run(*base)
    assert cli.run(*base, code=1)["status"] == "error"


# --- ingest ----------------------------------------------------------------------------------------


def test_ingest_loads_json_lines_and_reports_counts(cli, tmp_path):
    account_id = new_account(cli)
    first = write_jsonl(
        tmp_path / "a.jsonl", [record("c1"), record("c2"), "", record("c3", agentId=None, agentName=None)]
    )
    out = cli.run("ingest", str(first), "--account", account_id)
    assert (out["inserted"], out["updated"]) == (3, 0)
    assert stored(cli, account_id) == {"c1": "Ada", "c2": "Ada", "c3": None}
    with cli.engine.connect() as conn:
        start = conn.execute(
            sa.select(calls.c.start_ts).where(calls.c.call_id == "c1", calls.c.account_id == account_id)
        ).scalar()
    # A naive time is in the account's timezone (Asia/Kolkata, +05:30).
    assert start == int(datetime.fromisoformat("2024-07-01T10:00:00+05:30").timestamp())
    second = write_jsonl(tmp_path / "b.jsonl", [record("c2", agentName="Grace"), record("c4")])
    out = cli.run("ingest", str(second), "--account", account_id)
    assert (out["inserted"], out["updated"]) == (1, 1)
    assert stored(cli, account_id) == {"c1": "Ada", "c2": "Grace", "c3": None, "c4": "Ada"}


def test_ingest_of_an_invalid_record_stores_nothing_from_its_batch(cli, tmp_path):
    account_id = new_account(cli)
    bad = record("x3", status="lost")
    path = write_jsonl(tmp_path / "bad.jsonl", [record("x1"), record("x2"), bad, record("x4")])
    out = cli.run("ingest", str(path), "--account", account_id, code=1)
    assert "line 3" in out["message"] and "status" in out["message"], out
    assert stored(cli, account_id) == {}
    # With batches of two, the first batch is whole and stays; the failing one leaves nothing.
    out = cli.run("ingest", str(path), "--account", account_id, "--batch", "2", code=1)
    assert "line 3" in out["message"]
    assert set(stored(cli, account_id)) == {"x1", "x2"}


def test_ingest_names_the_real_line_past_blank_lines_and_non_json(cli, tmp_path):
    account_id = new_account(cli)
    path = write_jsonl(tmp_path / "gaps.jsonl", ["", record("g1"), "", "", record("g2", duration=-1)])
    out = cli.run("ingest", str(path), "--account", account_id, code=1)
    assert "line 5" in out["message"] and "duration" in out["message"], out
    garbled = write_jsonl(tmp_path / "garbled.jsonl", [record("g1"), "{not json", record("g2")])
    assert "line 2" in cli.run("ingest", str(garbled), "--account", account_id, code=1)["message"]
    assert stored(cli, account_id) == {}
    good = write_jsonl(tmp_path / "good.jsonl", [record("g1")])
    assert cli.run("ingest", str(good), "--account", "f" * 24, code=1)["status"] == "error"


def test_ingest_reports_every_problem_of_the_bad_record_with_field_and_line(cli, tmp_path):
    account_id = new_account(cli)
    bad = record("e2", status="lost", duration=-1, startTime="noon", colour="red")
    later = record("e3", callType=5)  # a second bad record: only the first bad one is reported
    path = write_jsonl(tmp_path / "many.jsonl", [record("e1"), "", bad, later])
    out = cli.run("ingest", str(path), "--account", account_id, code=1)
    assert sorted((p["line"], p["field"]) for p in out["errors"]) == [
        (3, "colour"),
        (3, "duration"),
        (3, "startTime"),
        (3, "status"),
    ]
    assert all(p["reason"] for p in out["errors"])
    assert "record 1 (line 3) has 4 problems" in out["message"] and "Nothing was stored." in out["message"]
    assert stored(cli, account_id) == {}
    # Without --json: one line per problem, each naming the file line and the field.
    result = CliRunner().invoke(cli_app, ["ingest", str(path), "--account", account_id], env=cli.env)
    assert result.exit_code == 1
    for field in ("colour", "duration", "startTime", "status"):
        assert f"line 3: {field}: " in result.stderr, result.stderr


def test_ingest_reports_at_most_20_problems_and_time_checks_of_typed_records(cli, tmp_path):
    account_id = new_account(cli)
    bad = record("t1", endTime="2024-07-01 09:00:00", talkDuration=500)  # types right, times and durations not
    extra = {f"x{i}": i for i in range(25)}
    path = write_jsonl(tmp_path / "t.jsonl", [bad])
    problems = cli.run("ingest", str(path), "--account", account_id, code=1)["errors"]
    assert [(p["line"], p["field"]) for p in problems] == [(1, "endTime"), (1, "talkDuration")]
    path = write_jsonl(tmp_path / "x.jsonl", [record("t2"), {**record("t3"), **extra}])
    problems = cli.run("ingest", str(path), "--account", account_id, code=1)["errors"]
    assert len(problems) == 20 and {p["line"] for p in problems} == {2}


# --- demo ----------------------------------------------------------------------------------------


def test_demo_makes_a_working_account(cli):
    out = cli.run("demo", "--calls", "200")
    assert {"accountId", "userId", "token", "ssid", "username", "password"} <= set(out)
    assert out["calls"] == 200
    assert len(stored(cli, out["accountId"])) == 200
    with cli.engine.connect() as conn:
        who = auth.authenticate(conn, {"userId": out["userId"], "token": out["token"]})
    assert who.permissions == frozenset(auth.PERMISSIONS) and who.account_id == out["accountId"]
    with TestClient(create_app(cli.settings)) as client:
        assert call(client, "reportCount", {"userId": out["userId"], "token": out["token"]}) == {
            "status": "success",
            "count": 200,
        }
        assert call(client, "reportCount", {"ssid": out["ssid"]})["count"] == 200
        logged = call(client, "login", {"username": out["username"], "password": out["password"]}, family="auth")
        assert logged["userId"] == out["userId"]
        page = call(client, "list", {"ssid": logged["ssid"], "limit": 1000})
        assert len(page["data"]) == 200 and page["nextCursor"] is None


def test_a_second_demo_reuses_the_first_with_fresh_credentials(cli):
    first = cli.run("demo", "--calls", "150")  # the module's database may hold a demo already
    second = cli.run("demo", "--calls", "150")
    assert (second["accountId"], second["userId"], second["username"]) == (
        first["accountId"],
        first["userId"],
        first["username"],
    )
    assert second["reused"] is True and second["calls"] == first["calls"] >= 150
    assert second["token"] != first["token"] and second["password"] != first["password"]
    assert len(stored(cli, first["accountId"])) == first["calls"]
    with cli.engine.connect() as conn:
        demo_users = conn.execute(sa.select(sa.func.count()).select_from(users).where(users.c.username.like("demo%")))
        assert demo_users.scalar_one() == 1
        assert auth.authenticate(conn, {"ssid": second["ssid"]}).user_id == first["userId"]
        assert auth.authenticate(conn, {"userId": first["userId"], "token": first["token"]})  # old token still works
    with TestClient(create_app(cli.settings)) as client:
        login = {"username": second["username"], "password": second["password"]}
        assert call(client, "login", login, family="auth")["status"] == "success"


def test_demo_prints_the_port_and_host_it_is_given(cli):
    result = CliRunner().invoke(cli_app, ["demo", "--calls", "0", "--port", "8765", "--host", "0.0.0.0"], env=cli.env)
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8765/api/v2/callreport/list" in result.stdout
    assert "API docs: http://127.0.0.1:8765/docs" in result.stdout
    assert ":8000" not in result.stdout


@pytest.mark.parametrize(
    "command",
    [["demo"], ["ingest"], ["account", "create"], ["user", "create"], ["session", "create"], ["token", "revoke"]],
)
def test_help_names_values_not_python_types(command):
    result = CliRunner().invoke(cli_app, [*command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    options = [line for line in result.stdout.splitlines() if line.strip().startswith("--")]
    assert options and not [line for line in options if "<" in line], result.stdout  # no <bool>, <str>, <int range>
    assert "--json " in result.stdout


def test_port_check_names_a_taken_port_and_passes_a_free_one():
    from callreport.portcheck import main as port_check

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert port_check(["127.0.0.1", str(port)]) == 1
    assert port_check(["127.0.0.1", str(free_port())]) == 0


def test_make_run_with_the_port_taken_stops_before_installing_or_loading(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = Path(__file__).resolve().parent.parent
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "CALLREPORT_DATA_DIR": str(tmp_path / "data")}
        venv = tmp_path / "venv"
        out = subprocess.run(
            ["make", "-C", str(root), "run", f"PORT={port}", f"VENV={venv}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in out.stderr, out.stderr
    assert not venv.exists() and not (tmp_path / "data").exists()


# --- the reference's curl command against the real server ---------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """`callreport serve` in its own process on SQLite; (port, ssid of a LIST_CALL_LOG user)."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    data_dir = tmp_path_factory.mktemp("serve-data")
    env = {**os.environ, "CALLREPORT_DATA_DIR": str(data_dir)}
    for name in ("CALLREPORT_DATABASE_URL", "CALLREPORT_STORAGE_URL"):
        env.pop(name, None)
    settings = Settings(data_dir=data_dir, database_url=None, embedded_worker=False)
    cli = Cli(
        {**env, "CALLREPORT_DATABASE_URL": None, "CALLREPORT_STORAGE_URL": None},
        settings,
        db.make_engine(settings.resolved_database_url()),
    )
    account_id = new_account(cli)
    user_id = cli.run(
        "user",
        "create",
        "--account",
        account_id,
        "--username",
        "curl-user",
        "--password",
        "pw",
        "--permission",
        "LIST_CALL_LOG",
    )["userId"]
    ssid = cli.run("session", "create", "--user", user_id)["ssid"]
    cli.engine.dispose()
    port = free_port()
    with serving(port, env, data_dir / "serve.log"):
        yield port, ssid


def curl(port: int, ssid: str, request_id: str) -> subprocess.CompletedProcess:
    """The reference's curl command as written, against the local server."""
    # indent=2 gives the reference's exact text: '{\n  "ssid": "...",\n  "requestId": "..."\n}'
    data = json.dumps({"ssid": ssid, "requestId": request_id}, indent=2)
    return subprocess.run(
        [
            "curl",
            "--location",
            "-g",
            "--request",
            "POST",
            f"http://127.0.0.1:{port}/api/v2/CallReport/downloadPdf",
            "--data-raw",
            data,
        ],
        capture_output=True,
        timeout=30,
        check=True,
    )


def test_reference_curl_gets_file_not_exists(server):
    port, ssid = server
    out = curl(port, ssid, secrets.token_hex(12))
    assert out.stdout == b'{"status":"error","message":"File Not Exists","code":1009}'


def test_reference_curl_with_a_bad_request_id(server):
    port, ssid = server
    for bad in ["{{objectid}}", "12345", "g" * 24]:
        assert curl(port, ssid, bad).stdout == b'{"status":"error","message":"Invalid parameter","code":1000}'


def test_reference_curl_headers(server):
    port, ssid = server
    data = json.dumps({"ssid": ssid, "requestId": secrets.token_hex(12)})
    out = subprocess.run(
        [
            "curl",
            "-s",
            "-D",
            "-",
            "-o",
            os.devnull,
            "--request",
            "POST",
            f"http://127.0.0.1:{port}/api/v2/callreport/downloadpdf/",
            "--data-raw",
            data,
        ],
        capture_output=True,
        timeout=30,
        check=True,
    )
    head = out.stdout.decode("latin-1").split("\r\n")
    assert head[0].split()[1] == "200"
    fields = {}
    for line in head[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            fields.setdefault(key.strip().lower(), []).append(value.strip())
    assert fields["access-control-allow-origin"] == ["*"]
    assert fields["vary"] == ["Origin"]
    assert fields["strict-transport-security"] == ["max-age=15724800; includeSubDomains"]
    assert fields["content-length"] == [str(len(b'{"status":"error","message":"File Not Exists","code":1009}'))]
    # The reference's own example response carries this very validator for this very body.
    assert fields["etag"] == ['W/"3a-Hk3L/tap5L1EXKsavffpKR6hbuU"']
