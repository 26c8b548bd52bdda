"""The npm package ``docker-registry-client`` 3.4.0 (``createClientV1``) against the
emulator, driven by ``npm_v1_client.js`` under node: standalone (REF), behind the
emulator's ``--user`` front, behind a real nginx, and against a hub."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from docker_registry_v1.emulator import run_hub, run_standalone
from docker_registry_v1.emulator.seed import SeedImage
from interop_support import PASSWORD, REPO, TAG, USER, nginx_front, run_npm_client, seed

MODES = ("standalone", "user", "nginx", "hub")
OPERATIONS = (
    "ping",
    "listRepoTags",
    "getImgAncestry",
    "getImgJson",
    "getImgLayerStream",
    "search",
    "login",
)
REGISTRY_CALLS = ("listRepoTags", "getImgAncestry", "getImgJson", "getImgLayerStream")
SWAPS_BASIC = (
    "after GET …/images the client replaces Basic with 'Token ' + X-Docker-Token "
    "(REF's value already says Token), which nginx auth_basic refuses with 401"
)
BROKEN = (
    {("user", op): SWAPS_BASIC for op in REGISTRY_CALLS}
    | {("nginx", op): SWAPS_BASIC for op in REGISTRY_CALLS}
    | {
        ("hub", op): "the client sends its token only to the index's own host (or to "
        "registry-1.docker.io for docker.io), so a hub registry elsewhere gets none: 401"
        for op in REGISTRY_CALLS
    }
)


UNAUTHORIZED = re.compile(r"401 Authorization Required|Requires authorization|UnauthorizedError")


class RefusedError(Exception):
    """The registry answered the client's call with 401 (the documented breakage)."""


class Run:
    def __init__(self, mode: str, results: dict[str, Any], chain: list[SeedImage]) -> None:
        self.mode = mode
        self.results = results
        self.chain = chain


@pytest.fixture(scope="module", params=MODES)
def npm_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    mode = str(request.param)
    with ExitStack() as stack:
        credentials: dict[str, str] = {}
        if mode == "hub":
            hub = stack.enter_context(run_hub(users={USER: PASSWORD}))
            chain, url = seed(hub), hub.index_url
            credentials = {"username": USER, "password": PASSWORD}
        else:
            users = {USER: PASSWORD} if mode == "user" else None
            registry = stack.enter_context(run_standalone(users=users))
            chain, url = seed(registry), registry.url
            if mode == "nginx":
                url = stack.enter_context(nginx_front(url, tmp_path_factory.mktemp("nginx")))
            if mode != "standalone":
                credentials = {"username": USER, "password": PASSWORD}
        host = url.removeprefix("http://")
        config = {
            "name": f"{host}/{REPO}",
            "index": url,
            "tip": chain[-1].id,
            "base": chain[0].id,
            "term": "app",
            **credentials,
        }
        yield Run(mode, run_npm_client(config), chain)


def _expected(run: Run, operation: str) -> object:
    tip, base = run.chain[-1], run.chain[0]
    if operation == "ping":
        return {}
    if operation == "listRepoTags":
        return {TAG: tip.id}
    if operation == "getImgAncestry":
        return [i.id for i in reversed(run.chain)]
    if operation == "getImgJson":
        return json.loads(tip.json_bytes)
    if operation == "getImgLayerStream":
        digest = hashlib.sha256(base.layer_bytes).hexdigest()
        return {"status": 200, "sha256": digest, "size": len(base.layer_bytes)}
    if operation == "search":
        if run.mode == "hub":
            return "hub"
        return {"num_results": 1, "query": "app", "results": [{"description": "", "name": REPO}]}
    assert operation == "login"
    return "Account created" if run.mode == "standalone" else "Login Succeeded"


@pytest.mark.parametrize("operation", OPERATIONS)
def test_npm_client_v1(npm_run: Run, operation: str, request: pytest.FixtureRequest) -> None:
    reason = BROKEN.get((npm_run.mode, operation))
    if reason is not None:
        request.applymarker(pytest.mark.xfail(strict=True, raises=RefusedError, reason=reason))
    outcome = npm_run.results[operation]
    if not outcome["ok"] and UNAUTHORIZED.search(outcome["error"]):
        raise RefusedError(outcome["error"])
    assert outcome["ok"], outcome.get("error")
    value, expected = outcome["value"], _expected(npm_run, operation)
    if operation == "login":
        assert str(value["status"]).startswith(str(expected))
    elif expected == "hub":
        assert (value["page"], [r["name"] for r in value["results"]]) == ("1", [REPO])
    else:
        assert value == expected
