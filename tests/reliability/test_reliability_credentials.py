"""Credentials: Basic only to its own host, tokens only to endpoint hosts, secrets never shown.

The hub runs its index and registry on two ports; a third emulator's address is
injected into ``X-Docker-Endpoints``. Its request log records fingerprints of
every ``Authorization`` it sees, so the tests can say which secret reached which
address without any log holding one.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from docker_registry_v1 import (
    Client,
    NotFound,
    RegistryConnectionError,
    ServerError,
    Unauthorized,
)
from docker_registry_v1.cli import main
from docker_registry_v1.emulator import Hub
from docker_registry_v1.emulator.requestlog import fingerprint, redact_authorization
from docker_registry_v1.transfer import pull, push
from reliability_support import (
    ALICE,
    FAST,
    PASSWORD,
    Answer,
    closed_port,
    hostile,
    save_archive,
    seed_chain,
    self_signed_context,
    settled,
)

BASIC = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
BASIC_FP = redact_authorization(BASIC)


def _auths(entries: list[Any], role: str | None = None, port: int | None = None) -> set[str]:
    return {
        e.authorization
        for e in entries
        if e.authorization and (role is None or e.role == role) and (port is None or e.port == port)
    }


def test_basic_never_leaves_the_index_host(hub: Hub, emulator_factory: Any, tmp_path: Path) -> None:
    third = emulator_factory()
    third_netloc = third.url.removeprefix("http://")
    chain = seed_chain(2)
    hub.store.seed("ns/r", "t", chain)
    archive = save_archive(tmp_path / "in.tar", "ns/w", "t", seed_chain(2, seed=1))

    # The third address comes first: registry calls under the token go there.
    hub.endpoints = [third_netloc, "{registry}"]
    with Client(hub.index_url, auth=ALICE) as client:
        token = client.hub.get_read_token_with_auth("ns/r")
        assert token.host == third_netloc
        with pytest.raises(Exception):  # noqa: B017, PT011 - the third host knows no such repo
            client.repository.list_tags("ns/r", auth=token)
    assert _auths(settled(third)) == {"Token " + fingerprint(token.token)}

    # Unreachable first endpoint, then the hub's registry: pull and push complete.
    hub.endpoints = [f"127.0.0.1:{closed_port()}", "{registry}", third_netloc]
    with Client(hub.index_url, auth=ALICE) as client:
        pull(client, "ns/r", "t", tmp_path / "out.tar", retry=FAST)
        push(client, archive, "ns/w", "t", retry=FAST)
    hub_entries = settled(hub)
    assert BASIC_FP in _auths(hub_entries, role="index")
    assert _auths(hub_entries, role="index") == {BASIC_FP}
    registry_auths = _auths(hub_entries, role="registry")
    assert registry_auths
    assert all(a.startswith("Token ") for a in registry_auths)
    assert all(a.startswith("Token ") for a in _auths(settled(third)))


def test_basic_pinned_to_a_host_is_never_sent_elsewhere(hub: Hub, emulator_factory: Any) -> None:
    """Credentials configured for the index (as the CLI pins them) stay off other hosts."""
    third = emulator_factory()
    index_netloc = hub.index_url.removeprefix("http://")
    pinned = type(ALICE)("alice", PASSWORD, host=index_netloc)
    hub.store.seed("ns/r", "t", seed_chain(1))
    with Client(third.url, auth=pinned) as client:
        client.ping()
        client.ping(auth=pinned)
        with pytest.raises(NotFound):
            client.repository.list_tags("ns/r")
    with Client(hub.index_url, auth=pinned) as client:
        client.users.login()
    assert _auths(settled(third)) == set()
    assert _auths(settled(hub), role="index") == {BASIC_FP}


def test_token_is_dropped_on_a_cross_origin_redirect(hub: Hub) -> None:
    image = seed_chain(1)[0]
    hub.store.seed("ns/r", "t", [image])
    cdn = hub.add_cdn()
    hub.faults.redirect("/v1/images/*/layer", cdn, role="registry")
    sink = io.BytesIO()
    with Client(hub.index_url, auth=ALICE) as client:
        token = client.hub.get_read_token_with_auth("ns/r")
        client.image.get_layer(image.id, sink, auth=token)
    assert sink.getvalue() == image.layer_bytes
    entries = settled(hub)
    assert [e.authorization for e in entries if e.role == "cdn"] == [None]
    assert _auths(entries, role="registry") == {"Token " + fingerprint(token.token)}


def test_secrets_are_not_in_reprs_or_errors(hub: Hub) -> None:
    hub.store.seed("library/busybox", "t", seed_chain(1))
    with Client(hub.index_url, auth=ALICE) as client:
        token = client.hub.get_read_token_with_auth("library/busybox")
        texts = [repr(ALICE), str(ALICE), repr(token), str(token), repr(client)]
        with pytest.raises(Unauthorized) as caught:
            client.users.login(auth=type(ALICE)("alice", "wrong-" + PASSWORD))
        texts += [str(caught.value), repr(caught.value), repr(list(caught.value.headers.items()))]
    for text in texts:
        assert PASSWORD not in text
        assert BASIC.split()[1] not in text
        assert token.token not in text


def test_secret_response_headers_are_redacted_in_errors() -> None:
    headers = (
        ("X-Docker-Token", "signature=SECRET1"),
        ("WWW-Authenticate", "Token signature=SECRET2"),
        ("Set-Cookie", "session=SECRET3"),
    )
    answer = Answer(500, b'{"error": "boom"}', headers)
    with (
        hostile(lambda _m, _p: answer) as server,
        Client(server.url) as client,
        pytest.raises(ServerError) as caught,
    ):
        client.ping()
    shown = str(caught.value) + repr(caught.value) + repr(list(caught.value.headers.items()))
    assert "SECRET" not in shown


def test_debug_logs_hold_no_secrets(
    hub: Hub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub.store.seed("ns/r", "t", seed_chain(2))
    archive = save_archive(tmp_path / "in.tar", "ns/w", "t", seed_chain(1, seed=3))
    caplog.set_level(logging.DEBUG)
    with Client(hub.index_url, auth=ALICE) as client:
        token = client.hub.get_read_token_with_auth("ns/r")
        pull(client, "ns/r", "t", tmp_path / "out.tar", retry=FAST)
        push(client, archive, "ns/w", "t", retry=FAST)
        with pytest.raises(Unauthorized):
            client.users.login(auth=type(ALICE)("alice", "wrong-" + PASSWORD))
    assert "HTTP Request" in caplog.text  # DEBUG logging did capture the traffic
    for secret in (PASSWORD, BASIC.split()[1], token.token, "signature="):
        assert secret not in caplog.text


def _regv1(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env or {}, catch_exceptions=False)


def test_cli_output_holds_no_secrets(hub: Hub, tmp_path: Path) -> None:
    hub.store.seed("ns/r", "t", seed_chain(1))
    ref = hub.index_url.removeprefix("http://") + "/ns/r:t"
    env = {"REGV1_USERNAME": "alice", "REGV1_PASSWORD": PASSWORD}
    runs = [
        _regv1("login", hub.index_url, "--json", "-v", env=env),
        _regv1("tags", ref.removesuffix(":t"), "--json", "-v", env=env),
        _regv1("pull", ref, "-o", str(tmp_path / "o.tar"), "--json", "-v", env=env),
        _regv1("tags", ref.removesuffix(":t"), "-v", env=env),
        _regv1("login", hub.index_url, "--json", env={**env, "REGV1_PASSWORD": "bad" + PASSWORD}),
    ]
    assert [r.exit_code for r in runs] == [0, 0, 0, 0, 1]
    for result in runs:
        out = result.stdout + result.stderr
        assert PASSWORD not in out
        assert BASIC.split()[1] not in out
        assert "signature=" not in out.lower()


def test_tls_is_verified_by_default_and_insecure_warns(tmp_path: Path) -> None:
    context = self_signed_context(tmp_path)
    answer = Answer(200, b"{}", (("Content-Type", "application/json"),))
    with hostile(lambda _m, _p: answer, tls=context) as server:
        with Client(server.url) as client, pytest.raises(RegistryConnectionError) as caught:
            client.ping()
        assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
        with Client(server.url, verify=False) as client:
            assert client.ping().body == {}
        strict = _regv1("ping", server.url)
        assert strict.exit_code == 1
        assert "CERTIFICATE_VERIFY_FAILED" in strict.stderr
        insecure = _regv1("ping", server.url, "--insecure")
        assert insecure.exit_code == 0, insecure.stderr
        assert "warning: --insecure" in insecure.stderr
    assert len(server.seen) == 2  # only the two unverified pings got through


def test_credential_helper_secrets_stay_on_their_host(
    hub: Hub, emulator_factory: Any, tmp_path: Path
) -> None:
    """A docker credential helper's password (CLI, credsStore) reaches the index only."""
    third = emulator_factory()
    hub.endpoints = ["{registry}", third.url.removeprefix("http://")]
    hub.store.seed("ns/r", "t", seed_chain(2))
    index = hub.index_url.removeprefix("http://")
    bin_dir, config_dir = tmp_path / "bin", tmp_path / "docker"
    bin_dir.mkdir()
    config_dir.mkdir()
    helper = bin_dir / "docker-credential-vault"
    helper.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "server = sys.stdin.read()\n"
        f"if server != {index!r}:\n"
        "    print('credentials not found in native keychain')\n"
        "    sys.exit(1)\n"
        f"print(json.dumps({{'ServerURL': server, 'Username': 'alice', 'Secret': {PASSWORD!r}}}))\n"
    )
    helper.chmod(0o755)
    (config_dir / "config.json").write_text(json.dumps({"credsStore": "vault"}))
    env = {
        "DOCKER_CONFIG": str(config_dir),
        "XDG_RUNTIME_DIR": str(tmp_path / "none"),
        "XDG_CONFIG_HOME": str(tmp_path / "none"),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    runs = [
        _regv1("pull", f"{index}/ns/r:t", "-o", str(tmp_path / "o.tar"), "--json", "-v", env=env),
        _regv1("login", hub.index_url, env=env),
        _regv1("tags", f"{third.url.removeprefix('http://')}/ns/r", env=env),  # helper: none
    ]
    assert [r.exit_code for r in runs] == [0, 0, 1]
    assert "docker-credential-vault" in runs[1].stdout
    assert "not found, or no access" in runs[2].stderr
    for result in runs:
        assert PASSWORD not in result.stdout + result.stderr
        assert BASIC.split()[1] not in result.stdout + result.stderr
    assert _auths(settled(hub), role="index") == {BASIC_FP}
    assert all(a.startswith("Token ") for a in _auths(settled(hub), role="registry"))
    assert _auths(settled(third)) == set()
