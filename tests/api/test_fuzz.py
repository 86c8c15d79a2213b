"""Property-based fuzzing of every route from the served OpenAPI schema (schemathesis on
hypothesis): valid and invalid requests, signed out and signed in as an admin, on SQLite and
PostgreSQL. No request may get a 5xx, and every refusal is a JSON error."""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode

from certs.authority import ServerFiles
from devkit.broker import RunningBroker, ThreadedBroker
from devkit.databases import BACKENDS, create_postgres_database, drop_postgres_database, sqlite_url
from devkit.identity import make_org, make_person, sign_in_client

pytestmark = pytest.mark.integration

EXAMPLES = 30  # per operation and mode: ~1,800 requests per backend in all
# Routes that end the fuzzer's own session would only make the rest of the run 401s.
SELF_ENDING = {("POST", "/api/logout"), ("POST", "/api/logout-everywhere")}


@pytest.fixture(params=BACKENDS)
def live(request: pytest.FixtureRequest, server_certs: ServerFiles) -> Iterator[ThreadedBroker]:
    with tempfile.TemporaryDirectory() as tmp:
        postgres = request.param == "postgres"
        url = asyncio.run(create_postgres_database()) if postgres else sqlite_url(Path(tmp))
        threaded = ThreadedBroker(server_certs, url)
        try:
            threaded.start()
            yield threaded
        finally:
            threaded.stop()
            if postgres:
                asyncio.run(drop_postgres_database(url))


def admin_session(
    live: ThreadedBroker,
) -> tuple[dict[str, str], dict[str, str], int, int, list[int]]:
    """Cookies, headers, user id and session id of a signed-in admin, and the ids of three
    other people of the admin's clinic (targets for the user routes)."""
    broker = live.broker
    assert broker is not None

    async def sign_in() -> tuple[dict[str, str], dict[str, str], int, int, list[int]]:
        org = await make_org(broker)
        admin = await make_person(broker, org, "admin")
        others = [
            (await make_person(broker, org, role)).user_id for role in ("doctor", "staff", "vendor")
        ]
        async with broker.http() as http:
            signed = await sign_in_client(broker, http, admin)
            session_id = (await http.get("/api/account/sessions")).json()[0]["id"]
            return dict(http.cookies.items()), signed.headers, admin.user_id, session_id, others

    return live.run(sign_in())


def operations(broker: RunningBroker) -> list[tuple[str, st.SearchStrategy[Case]]]:
    with requests.Session() as http:
        spec = http.get(
            f"{broker.https_url}/openapi.json", verify=str(broker.certs.ca_cert), timeout=30
        ).json()
    schema = schemathesis.openapi.from_dict(spec)
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SELF_ENDING:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            name = f"{operation.method.upper()} {operation.path} {mode.value}"
            found.append((name, operation.as_strategy(generation_mode=mode)))
    return found


def check(response: schemathesis.Response, case: Case) -> None:
    where = f"{case.method} {case.formatted_path} body={case.body!r:.300}"
    assert response.status_code < 500, f"{response.status_code} for {where}: {response.text}"
    content_type = (response.headers.get("content-type") or [""])[0]
    if response.status_code >= 400 and content_type.startswith("application/json"):
        assert "error" in response.json(), where


def test_fuzzed_requests_never_get_a_server_error(
    live: ThreadedBroker, request: pytest.FixtureRequest
) -> None:
    """Hypothesis-generated requests to every operation, valid and invalid, signed out and
    signed in as an admin, never make the broker answer 5xx."""
    broker = live.broker
    assert broker is not None
    cookies, headers, my_user, my_session, others = admin_session(live)
    strategies = operations(broker)
    http = requests.Session()
    request.addfinalizer(http.close)  # before the broker stops (fixtures end after this)

    def run(case: Case, signed_in: bool, target: int | None) -> None:
        # Half the user-route cases aim at a real colleague, not a random id.
        if target is not None and case.path_parameters and "user_id" in case.path_parameters:
            case.path_parameters["user_id"] = target
        # Resetting our own factors or ending our own session would end the signed-in run.
        ids = case.path_parameters or {}
        if ids.get("user_id") == my_user or ids.get("session_id") == my_session:
            return
        # Wrong codes and current passwords count against the account's lockout, and the
        # lock ends the session (issue 12): signed in, these would end the run after five.
        if case.path.startswith("/api/step-up/") or case.path == "/api/account/password":
            signed_in = False
        extra = dict(headers) if signed_in else {}
        response = case.call(
            base_url=broker.https_url,
            session=http,
            headers=extra,
            cookies=cookies if signed_in else {},
            timeout=30,
            verify=str(broker.certs.ca_cert),
        )
        check(response, case)
        statuses.setdefault(f"{case.method} {case.path}", Counter())[response.status_code] += 1

    fuzz = settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    statuses: dict[str, Counter[int]] = {}
    fuzzed = []
    for name, strategy in strategies:
        try:
            targets = st.one_of(st.none(), st.sampled_from(others))
            fuzz(given(case=strategy, signed_in=st.booleans(), target=targets)(run))()
        except Unsatisfiable:
            # An operation without parameters or body has no invalid form to generate.
            assert name.endswith("negative"), name
            continue
        fuzzed.append(name)
    assert len(fuzzed) >= 40, fuzzed
    print("\nfuzz status codes by route:", {k: dict(v) for k, v in sorted(statuses.items())})
    # The run went deep, not only into 400s and 401s: valid requests succeeded too.
    for route in ("POST /api/admin/users", "PATCH /api/admin/users/{user_id}", "GET /api/hosts"):
        assert any(200 <= code < 300 for code in statuses.get(route, {})), route
    # The signed-in session survived the run (so it really exercised the signed-in routes).
    still = http.get(
        f"{broker.https_url}/api/factors",
        cookies=cookies,
        timeout=30,
        verify=str(broker.certs.ca_cert),
    )
    assert still.status_code == 200
