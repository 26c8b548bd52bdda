"""The classic private deployment, for real: nginx (Debian) with ``auth_basic`` in front
of the emulator as REF. The facade, pull, push and mirror work through it; a client that
sends a token instead of Basic is refused, as in the field, and the emulator's own
``--user`` front answers exactly as this nginx does."""

from __future__ import annotations

import io
import re
import socket
import tarfile
from pathlib import Path

import httpx
import interop_support
import ports
import pytest
from docker_registry_v1 import BasicAuth, Client, RetryPolicy, mirror
from docker_registry_v1.emulator import Hub, Standalone
from docker_registry_v1.emulator.seed import build_image_chain
from docker_registry_v1.formats.archive import ChainImage, write_loadable_archive
from interop_support import PASSWORD, REPO, TAG, USER, Fronted, seed

ALICE = BasicAuth(USER, PASSWORD)
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.1, jitter=0.1)


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _without_version(body: str) -> str:
    return re.sub(r"nginx/[0-9.]+", "nginx", body)


def test_pings_are_open_and_everything_else_needs_basic(nginx_registry: Fronted) -> None:
    seed(nginx_registry.registry)
    with httpx.Client(base_url=nginx_registry.url) as anon:
        for ping in ("/_ping", "/v1/_ping"):
            assert anon.get(ping).headers["x-docker-registry-standalone"] == "True"
        refused = anon.get(f"/v1/repositories/{REPO}/tags")
        assert (refused.status_code, refused.headers["www-authenticate"]) == (
            401,
            'Basic realm="regv1"',
        )
        allowed = anon.get(f"/v1/repositories/{REPO}/tags", auth=(USER, PASSWORD))
        assert allowed.status_code == 200


def test_facade_through_nginx(nginx_registry: Fronted) -> None:
    chain = seed(nginx_registry.registry)
    with Client(nginx_registry.url, auth=ALICE) as client:
        assert client.ping().standalone is True
        client.users.login()
        assert [r.name for r in client.search.query("app").results] == [REPO]
        assert dict(client.repository.list_tags(REPO)) == {TAG: chain[-1].id}
        assert client.image.get_ancestry(chain[-1].id) == [i.id for i in reversed(chain)]
        sink = io.BytesIO()
        client.image.get_layer(chain[0].id, sink)
        assert sink.getvalue() == chain[0].layer_bytes


def test_push_then_pull_through_nginx(nginx_registry: Fronted, tmp_path: Path) -> None:
    chain = build_image_chain(3, seed=5, layer_size=30_000, gzip=False)
    images = [ChainImage(i.id, i.json_bytes, io.BytesIO(i.layer_bytes)) for i in chain]
    archive = write_loadable_archive(tmp_path / "in.tar", REPO, TAG, images).path
    with Client(nginx_registry.url, auth=ALICE) as client:
        pushed = client.push(archive, REPO, retry=FAST)
        pulled = client.pull(REPO, TAG, tmp_path / "out.tar", retry=FAST)
    assert list(pushed.pushed) == [i.id for i in chain]
    assert pulled.image_id == chain[-1].id
    members = _members(tmp_path / "out.tar")
    for image in chain:
        assert members[f"{image.id}/json"] == image.json_bytes
        assert members[f"{image.id}/layer.tar"] == image.layer_bytes
    seen = nginx_registry.registry.log.authorizations()
    assert seen == set()  # nginx strips Authorization, as the classic config does


def test_mirror_from_a_hub_through_nginx(hub: Hub, nginx_registry: Fronted) -> None:
    chain = seed(hub)
    with (
        Client(hub.index_url, auth=ALICE) as source,
        Client(nginx_registry.url, auth=ALICE) as target,
    ):
        copied = mirror(source, REPO, target, "team/copy", retry=FAST)
    assert list(copied.copied) == [i.id for i in chain]
    store = nginx_registry.registry.store
    assert store.tags("team/copy") == {TAG: chain[-1].id}


def test_a_token_in_place_of_basic_is_refused(
    nginx_registry: Fronted, private_registry: Standalone
) -> None:
    """What a client that swaps Basic for the index token meets: nginx's 401, and the
    emulator's ``--user`` front gives the same answer."""
    seed(nginx_registry.registry)
    seed(private_registry)
    answers = []
    for url in (nginx_registry.url, private_registry.url):
        with httpx.Client(base_url=url) as client:
            issued = client.put(f"/v1/repositories/{REPO}/", json=[], auth=(USER, PASSWORD))
            token = issued.headers["x-docker-token"]
            assert token.startswith("Token signature=")
            answers.append(
                client.get(f"/v1/repositories/{REPO}/tags", headers={"Authorization": token})
            )
    real, emulated = answers
    for answer in answers:
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == 'Basic realm="regv1"'
        assert answer.headers["content-type"].startswith("text/html")
    assert _without_version(emulated.text) == _without_version(real.text)


def test_an_nginx_whose_port_is_taken_starts_again_on_another(
    monkeypatch: pytest.MonkeyPatch, standalone: Standalone, tmp_path: Path
) -> None:
    """Another process may bind the port between the pick and nginx's own bind: nginx is
    started again on a fresh port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        picks = iter([busy, ports.unused_port()])
        monkeypatch.setattr(interop_support, "unused_port", lambda: next(picks))
        with interop_support.nginx_front(standalone.url, tmp_path / "nginx") as url:
            assert not url.endswith(f":{busy}")
            assert httpx.get(f"{url}/v1/_ping").status_code == 200
