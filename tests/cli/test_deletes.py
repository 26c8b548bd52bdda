"""``delete`` and ``untag`` ask ``_ping`` first, and say what will happen before they act.

A standalone registry (the reference server) deletes a repository as soon as it is
asked for a delete token, so the CLI must know which kind it talks to before it
asks for one.
"""

from __future__ import annotations

from cli_support import ALICE, PASSWORD, chain, netloc
from docker_registry_v1.emulator import Hub, Standalone
from regv1_runner import document, regv1

ALICE_ENV = {"REGV1_USERNAME": ALICE[0], "REGV1_PASSWORD": PASSWORD}


def _requests(registry: Standalone) -> list[tuple[str, str, bool]]:
    """Method, path and whether a token was asked for, in order."""
    return [
        (e.method, e.path, e.headers.get("x-docker-token") == "true") for e in registry.log.entries
    ]


def test_standalone_delete_says_it_is_immediate(standalone: Standalone) -> None:
    standalone.store.seed("team/app", "1.0", chain(1))
    ref = f"{netloc(standalone.url)}/team/app"
    declined = regv1("delete", ref, input="n\n")
    assert declined.exit_code == 1
    assert "is a standalone registry" in declined.stderr
    assert "deleted immediately" in declined.stderr
    assert standalone.store.repository_exists("team/app")
    assert _requests(standalone) == [("GET", "/v1/_ping", False)]

    standalone.log.clear()
    doc = document(regv1("delete", ref, "--yes", "--json"))
    assert doc["standalone"] is True
    assert not standalone.store.repository_exists("team/app")
    requests = _requests(standalone)
    assert requests[0] == ("GET", "/v1/_ping", False)
    assert not any(token for _, _, token in requests)  # no delete token was ever asked for
    assert ("DELETE", "/v1/repositories/team/app/", False) in requests


def test_standalone_untag_takes_no_token(standalone: Standalone) -> None:
    standalone.store.seed("team/app", "1.0", chain(1))
    standalone.store.seed("team/app", "old", chain(1))
    result = regv1("untag", f"{netloc(standalone.url)}/team/app:old")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""  # nothing to confirm
    assert standalone.store.tags("team/app") == {"1.0": chain(1)[0].id}
    requests = _requests(standalone)
    assert requests[0] == ("GET", "/v1/_ping", False)
    assert not any(token for _, _, token in requests)


def test_index_delete_explains_the_token_flow(hub: Hub) -> None:
    hub.store.seed("team/app", "1.0", chain(1))
    ref = f"{netloc(hub.index_url)}/team/app"
    declined = regv1("delete", ref, input="n\n", env=ALICE_ENV)
    assert declined.exit_code == 1
    assert "is an index" in declined.stderr
    assert "delete token" in declined.stderr
    assert hub.store.repository_exists("team/app")
    accepted = document(regv1("delete", ref, "--yes", "--json", env=ALICE_ENV))
    assert accepted["standalone"] is False
    assert not hub.store.repository_exists("team/app")
