"""The send path's retry over real sockets: v1 calls the client now retries itself, the
requests it must never repeat, transfers whose attempts are not multiplied, and the
``-v`` log of a request redirected to a signed URL."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from docker_registry_v1 import (
    AsyncClient,
    BasicAuth,
    Client,
    Journal,
    OCILayout,
    RetryPolicy,
    Selection,
    ServerError,
    V1Side,
    copy,
    inventory,
    migrate,
    plan_migration,
)
from docker_registry_v1.cli import main
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.transfer import mirror, pull, push
from reliability_support import (
    PASSWORD,
    Answer,
    hostile,
    save_archive,
    seed_chain,
    settled,
)

QUICK = RetryPolicy(attempts=3, base_delay=0.01, max_delay=1.0, jitter=0.0)


def _hits(reg: Standalone, method: str, path: str) -> int:
    return len([e for e in settled(reg) if e.method == method and e.path == path])


# ---------------------------------------------------------------- single calls, retried


def test_a_503_burst_on_a_v1_call_is_retried_by_the_client(standalone: Standalone) -> None:
    standalone.store.seed("ns/r", "t", seed_chain(1))
    standalone.faults.error("/v1/repositories/ns/r/tags", 503, times=2)
    with Client(standalone.url, retry=QUICK) as client:
        assert list(client.repository.list_tags("ns/r")) == ["t"]
    assert _hits(standalone, "GET", "/v1/repositories/ns/r/tags") == 3


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("cut", ["drop_after", "wrong_length"])
def test_a_body_cut_short_is_read_again(standalone: Standalone, flavour: str, cut: str) -> None:
    chain = seed_chain(1)
    standalone.store.seed("ns/r", "t", chain)
    path = f"/v1/images/{chain[0].id}/json"
    if cut == "drop_after":
        standalone.faults.drop_after(path, 10, times=1)
    else:
        standalone.faults.wrong_length(path, 50, times=1)

    async def read_async() -> bytes:
        async with AsyncClient(standalone.url, retry=QUICK) as client:
            return (await client.image.get_metadata_raw(chain[0].id)).json_bytes

    if flavour == "sync":
        with Client(standalone.url, retry=QUICK) as client:
            got = client.image.get_metadata_raw(chain[0].id).json_bytes
    else:
        got = anyio.run(read_async)
    assert got == chain[0].json_bytes
    entries = [e for e in settled(standalone) if e.path == path]
    assert len(entries) == 2
    assert entries[0].aborted


def test_retry_after_in_seconds_is_waited_for(standalone: Standalone) -> None:
    standalone.store.seed("ns/r", "t", seed_chain(1))
    standalone.faults.error("/v1/repositories/ns/r/tags", 503, retry_after=1, times=1)
    with Client(standalone.url, retry=RetryPolicy(attempts=2, max_delay=2.0)) as client:
        client.repository.list_tags("ns/r")
    tries = [e.started for e in settled(standalone) if e.path == "/v1/repositories/ns/r/tags"]
    assert len(tries) == 2
    assert tries[1] - tries[0] >= 0.95


def test_the_checksum_put_is_sent_once(standalone: Standalone) -> None:
    chain = seed_chain(1)
    path = f"/v1/images/{chain[0].id}/checksum"
    standalone.faults.error(path, 503, times=None)
    with Client(standalone.url, retry=QUICK) as client, pytest.raises(ServerError):
        client.image.put_checksum(chain[0].id, chain[0].checksum)
    assert _hits(standalone, "PUT", path) == 1


# ---------------------------------------------------------------- transfers: not multiplied


def test_a_pull_sends_a_failing_json_get_attempts_times(
    standalone: Standalone, tmp_path: Path
) -> None:
    chain = seed_chain(1)
    standalone.store.seed("ns/r", "t", chain)
    path = f"/v1/images/{chain[0].id}/json"
    standalone.faults.error(path, 503, times=None)
    with Client(standalone.url) as client, pytest.raises(ServerError):
        pull(client, "ns/r", "t", tmp_path / "out.tar", retry=QUICK)
    assert _hits(standalone, "GET", path) == QUICK.attempts  # 3, not 3 x 4


def test_a_push_sends_a_failing_tag_put_attempts_times(
    standalone: Standalone, tmp_path: Path
) -> None:
    archive = save_archive(tmp_path / "in.tar", "ns/w", "t", seed_chain(1))
    path = "/v1/repositories/ns/w/tags/t"
    standalone.faults.error(path, 503, times=None)
    with Client(standalone.url, retry=QUICK) as client, pytest.raises(ServerError):
        push(client, archive, "ns/w", "t")  # the client's own policy, nothing added
    assert _hits(standalone, "PUT", path) == QUICK.attempts


def test_a_mirror_does_not_restart_a_layer_the_source_gave_up_on(
    standalone: Standalone, emulator_factory: Any
) -> None:
    chain = seed_chain(1)
    standalone.store.seed("ns/r", "t", chain)
    target = emulator_factory()
    path = f"/v1/images/{chain[0].id}/layer"
    standalone.faults.error(path, 500, times=None)
    with (
        Client(standalone.url) as source,
        Client(target.url) as dest,
        pytest.raises(ServerError),
    ):
        mirror(source, "ns/r", dest, "ns/r", retry=QUICK)
    assert _hits(standalone, "GET", path) == QUICK.attempts  # 3, not 3 x 3


# ---------------------------------------------------------------- the -v log


def _signed_registry(location: str) -> Any:
    """A v1 registry whose tags answer redirects to a signed storage URL."""

    def script(method: str, path: str) -> Answer:
        if path == "/v1/repositories/ns/r/tags":
            return Answer(302, b"", (("Location", location),))
        if path.startswith("/storage/"):
            return Answer(200, b'{"t": "' + b"a" * 64 + b'"}', (("Content-Type", "text/json"),))
        return Answer(404, b'{"error": "no"}', (("Content-Type", "application/json"),))

    return script


def _regv1_verbose(*args: str, env: dict[str, str]) -> Any:
    """``regv1 ... -v`` in-process; ``-v`` reconfigures logging, which is put back after."""
    root, httpcore = logging.getLogger(), logging.getLogger("httpcore")
    handlers, level, httpcore_level = list(root.handlers), root.level, httpcore.level
    try:
        return CliRunner().invoke(main, [*args, "-v"], env=env, catch_exceptions=False)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        httpcore.setLevel(httpcore_level)


def test_verbose_output_and_records_hold_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    signature = "SIGNATURE0123456789"
    query = f"X-Amz-Signature={signature}&X-Amz-Credential=AKIAEXAMPLE&Expires=1700000000"
    with hostile(lambda _m, _p: Answer()) as server:
        server.script = _signed_registry(f"{server.url}/storage/tags?{query}")
        caplog.set_level(logging.DEBUG)
        with Client(server.url, auth=BasicAuth("alice", PASSWORD), retry=QUICK) as client:
            client.repository.list_tags("ns/r")
        records = "\n".join(r.getMessage() for r in caplog.records)
        env = {"REGV1_USERNAME": "alice", "REGV1_PASSWORD": PASSWORD}
        result = _regv1_verbose("tags", f"{server.netloc}/ns/r", env=env)
        assert result.exit_code == 0, result.stderr
    assert len(server.authorizations()) == 1  # the credentials did go out, to their host
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert "GET http://" in records  # the library logged the requests
    assert "docker_registry_v1.http: GET http://" in result.stderr  # -v shows the library log
    assert "/storage/tags?X-Amz-Signature=<redacted>" in result.stderr
    for text in (result.stdout + result.stderr, records):
        for secret in (PASSWORD, basic, signature, "AKIAEXAMPLE", "1700000000"):
            assert secret not in text


def test_reuse_decisions_are_logged(
    standalone: Standalone, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    chain = seed_chain(2)
    archive = save_archive(tmp_path / "in.tar", "ns/w", "t", chain)
    with Client(standalone.url) as client:
        push(client, archive, "ns/w", "t")
        caplog.set_level(logging.DEBUG, logger="docker_registry_v1")
        again = push(client, archive, "ns/w", "t")
    assert set(again.skipped) == {image.id for image in chain}
    reused = [r.getMessage() for r in caplog.records if r.name == "docker_registry_v1.transfer"]
    assert sorted(reused) == sorted(
        f"image {image.id} is on the target already (its JSON answered)" for image in chain
    )


def test_a_migration_into_v1_does_not_restart_a_layer_the_source_gave_up_on(
    standalone: Standalone, emulator_factory: Any, tmp_path: Path
) -> None:
    chain = seed_chain(1)
    standalone.store.seed("ns/r", "t", chain)
    target = emulator_factory()
    path = f"/v1/images/{chain[0].id}/layer"
    standalone.faults.error(path, 500, times=None)
    with (
        Client(standalone.url) as source,
        Client(target.url) as dest,
        Journal(tmp_path / "journal.sqlite") as journal,
    ):
        found = inventory(source, repositories=["ns/r"])
        plan = plan_migration(found, Selection(), V1Side(dest), journal=journal)
        report = migrate(source, V1Side(dest), plan, journal=journal, retry=QUICK)
    assert [outcome.status for outcome in report.outcomes] == ["failed"]
    assert _hits(standalone, "GET", path) == QUICK.attempts  # 3, not 3 x 3


def test_a_copy_does_not_restart_a_layer_the_source_gave_up_on(
    standalone: Standalone, tmp_path: Path
) -> None:
    chain = seed_chain(1)
    standalone.store.seed("ns/r", "t", chain)
    path = f"/v1/images/{chain[0].id}/layer"
    standalone.faults.error(path, 500, times=None)
    with Client(standalone.url) as source, pytest.raises(ServerError):
        copy(source, "ns/r", "t", OCILayout(tmp_path / "layout"), retry=QUICK, cache=tmp_path / "c")
    assert _hits(standalone, "GET", path) == QUICK.attempts  # 3, not 3 x 3
