"""Stateful fuzzing: user A's calls follow the OpenAPI links, and every id A gets is replayed by others.

Schemathesis walks the links the service documents (callreport/http/responses.py LINKS): an export's
requestId into exportStatus, changeTitle, exportCancel and its download; a list page's nextCursor
into the next page (with the same filters) and its first callId into detail. Each requestId,
callId and cursor A's answers hold is then replayed as B (same account, no ADMIN), B2 (ADMIN
without VIEW_NUMBER, limited to an agent with no calls) and C (another account): none of them
may see any of it (§2, §4, §7). Both databases; bounded to a few seconds each.
"""

from __future__ import annotations

import orjson
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings

from callreport.app import create_app
from callreport.settings import Settings
from tests.fuzz_world import (
    World,
    check_answer,
    world_fixture,  # noqa: F401  (the fixture `world`)
)

pytestmark = pytest.mark.slow  # stateful fuzzing: 5 to 12 s

BASE = "/api/v2/callreport/"
DOWNLOADS = ("downloadPdf", "downloadCsv", "downloadExcel", "downloadJsonl")
CREATORS = ("exportCsv", "exportExcel", "exportPdf", "exportJsonl")
NOT_FILTERS = {"ssid", "userId", "token", "page", "cursor"}
EXCLUDED_CHECKS = [schemathesis.checks.negative_data_rejection]
# Ingest (slow to draw, and it changes the data under the cursors) and auth (logout would end A's
# session) stay with the stateless fuzzing.
schema = (
    schemathesis.openapi.from_dict(create_app(Settings(embedded_worker=False)).openapi())
    .include(path_regex=r"^/api/v2/callreport/")
    .exclude(path=f"{BASE}ingest")
)


class Replayer:
    """Replays A's ids as B, B2 and C, each id once, and counts what it checked."""

    def __init__(self, world: World, client: TestClient):
        self.world, self.client = world, client
        self.done: set[str] = set()
        self.checked = {"requestId": 0, "callId": 0, "cursor": 0, "nextPage": 0}

    def post(self, name: str, body: dict) -> dict:
        resp = self.client.post(BASE + name, json=body)
        answer = check_answer(name, resp.status_code, resp.headers, resp.content, body)
        assert answer is not None, (name, body, "a file reached another principal")
        return answer

    def unknown(self, name: str, body: dict, message: str) -> None:
        for who, creds in self.world.others.items():
            answer = self.post(name, {**creds, **body})
            assert (answer.get("code"), answer.get("message")) == (1009, message), (who, name, body, answer)

    def request(self, request_id: str) -> None:
        if request_id in self.done:
            return
        self.done.add(request_id)
        for name in ("exportStatus", "exportCancel"):
            self.unknown(name, {"requestId": request_id}, "Request Not Exists")
        self.unknown("changeTitle", {"requestId": request_id, "title": "taken"}, "Request Not Exists")
        for name in DOWNLOADS:
            self.unknown(name, {"requestId": request_id}, "File Not Exists")
        for who, creds in self.world.others.items():
            listed = self.post("exportList", {**creds, "limit": 1000})["data"]
            assert request_id not in {r["requestId"] for r in listed}, who
        self.checked["requestId"] += 1

    def call(self, call_id: str) -> None:
        if call_id in self.done:
            return
        self.done.add(call_id)
        for who in ("limited_admin", "foreign"):  # B sees the account's calls: no agent scope
            creds = getattr(self.world, who)
            answer = self.post("detail", {**creds, "callId": call_id})
            assert (answer.get("code"), answer.get("message")) == (1009, "Call Not Exists"), (who, answer)
            assert self.post("reportCount", {**creds, "callIds": [call_id]})["count"] == 0, who
        self.checked["callId"] += 1

    def cursor(self, name: str, cursor: str, filters: dict) -> None:
        if cursor in self.done:
            return
        self.done.add(cursor)
        for who, creds in self.world.others.items():
            answer = self.post(name, {**filters, **creds, "cursor": cursor})
            assert answer.get("code") == 1000 and answer.get("detail"), (who, name, answer)
        self.checked["cursor"] += 1


def _machine(world: World, replayer: Replayer) -> type:
    """A's state machine: A's credentials on every call, and every answer replayed by the others."""
    origins: dict[str, dict] = {}  # cursor -> the filters of the page that gave it

    class AsUserA(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict:
            return {"app": world.app}

        def before_call(self, case: schemathesis.Case) -> None:
            if not isinstance(case.body, dict):
                return
            for key in ("ssid", "userId", "token"):
                case.body.pop(key, None)
            case.body.update(world.creds)
            cursor = case.body.get("cursor")
            limit = case.body.get("limit")
            if case.operation.path.endswith("list") and (limit is None or type(limit) is int and limit > 0):
                case.body["limit"] = 1 + (limit or 1) % 3  # small pages, so 40 calls give cursors to follow
            if isinstance(cursor, str) and cursor in origins:  # a next page: the filters that made it
                case.body = {**origins[cursor], **world.creds, "cursor": cursor}
                replayer.checked["nextPage"] += 1

        def after_call(self, response: schemathesis.Response, case: schemathesis.Case) -> None:
            super().after_call(response, case)
            path = case.operation.path
            answer = check_answer(path, response.status_code, response.headers, response.content, case.body)
            if isinstance(case.body, dict) and case.body.get("cursor") in origins:
                assert answer and answer["status"] == "success", ("A's own next page", case.body, answer)
            if not answer or answer["status"] != "success":
                return
            name = path.rsplit("/", 1)[-1]
            if name in CREATORS:
                world.worker.run_one()  # A's file exists: the others must still not reach it
            if "requestId" in answer:
                replayer.request(answer["requestId"])
            data = answer.get("data")
            for item in data if isinstance(data, list) else [data] if isinstance(data, dict) else []:
                if "callId" in item:
                    replayer.call(item["callId"])
                elif "requestId" in item:
                    replayer.request(item["requestId"])
            if answer.get("nextCursor"):
                filters = {k: v for k, v in case.body.items() if k not in NOT_FILTERS}
                origins[answer["nextCursor"]] = filters
                replayer.cursor(name, answer["nextCursor"], filters)

        def validate_response(self, response, case, additional_checks=None, **kwargs) -> None:
            # The documented response schemas (callreport/http/responses.py) are checked here.
            case.validate_response(response, excluded_checks=EXCLUDED_CHECKS, transport_kwargs=kwargs or None)

    return AsUserA


STATEFUL = settings(
    deadline=None,
    derandomize=True,
    max_examples=20,
    stateful_step_count=10,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def test_nothing_of_user_a_is_visible_to_other_users_or_accounts(world):
    with TestClient(world.app) as client:
        replayer = Replayer(world, client)
        _machine(world, replayer).run(settings=STATEFUL)
        # The walk reached past the links: ids of every kind were produced and replayed.
        # A's own next pages (when the walk followed a nextPage link) were checked to succeed in after_call.
        for kind in ("requestId", "callId", "cursor"):
            assert replayer.checked[kind] > 0, (kind, replayer.checked)


def test_the_links_name_real_operations_and_fields():
    doc = schema.raw_schema
    ops = {op["post"]["operationId"]: op["post"] for op in doc["paths"].values()}
    for creator in ("exportCsv", "exportExcel", "exportPdf", "exportJsonl"):
        links = ops[creator]["responses"]["200"]["links"]
        assert {"exportStatus", "changeTitle", "exportCancel"} < set(links), creator
        for link in links.values():
            assert link["operationId"] in ops
            assert link["requestBody"] == {"requestId": "$response.body#/requestId"}
    assert ops["list"]["responses"]["200"]["links"]["nextPage"]["requestBody"] == {
        "cursor": "$response.body#/nextCursor"
    }
    assert orjson.dumps(doc)  # the document is plain JSON
