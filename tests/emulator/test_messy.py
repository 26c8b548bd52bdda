"""Broken storage states of reference registry 0.9.1, the messy preset and its bombs.

Every state is checked over real sockets against the answers §d.3 and §h.3 of
``shared/reference/v1-protocol.md`` give (and, where the document is silent, what REF
0.9.1's handlers do when a file is missing: ``FileNotFoundError`` → 404
``Image not found``; json and layer reads do not need the ancestry file, ancestry and
layer reads do not need the json file).
"""

from __future__ import annotations

import bz2
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import interruptible
import pytest
from docker_registry_v1 import Client, InvalidInput, RepositoryName
from docker_registry_v1.cli.serve import BREAKAGES
from docker_registry_v1.cli.serve import DEFAULT_BOMB_SIZE as CLI_BOMB_SIZE
from docker_registry_v1.core.names import is_tag
from docker_registry_v1.emulator import (
    BombFormat,
    Breakage,
    Fault,
    MessyRegistry,
    PlantedFault,
    Standalone,
    Store,
    bomb_image,
    bomb_layer,
    run_standalone,
    seed_messy,
)
from docker_registry_v1.emulator.bomb import DEFAULT_BOMB_SIZE, crc32_combine
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain, payload_checksum
from emulator_wire import push_image

REGV1 = Path(sys.executable).parent / "regv1"
IN_PROGRESS = b'{"error": "Image is being uploaded, retry later"}'
NOT_FOUND = b'{"error": "Image not found"}'
#: The OCI image-layout ``org.opencontainers.image.ref.name`` grammar (components of
#: alphanumerics joined by single separators), which ``_tmp`` and ``build_`` break.
OCI_REF_NAME = re.compile(r"[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*")
SMALL_BOMB = 1 << 20


def _error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


# -- each broken state on its own -----------------------------------------------------


def _seed(store: Store) -> list[SeedImage]:
    chain = build_image_chain(3, seed=40)
    store.seed("ns/r", "latest", chain)
    return chain


#: (json, layer, ancestry) status of the tagged image after each breakage; ``None`` = 200.
STATES: dict[Breakage, tuple[bytes | None, bytes | None, bytes | None]] = {
    Breakage.IN_PROGRESS: (IN_PROGRESS, IN_PROGRESS, IN_PROGRESS),
    Breakage.MISSING_JSON: (NOT_FOUND, None, None),
    Breakage.MISSING_LAYER: (None, NOT_FOUND, None),
    Breakage.MISSING_ANCESTRY: (None, None, NOT_FOUND),
    Breakage.CORRUPT_JSON: (None, None, None),
    Breakage.CHECKSUM_MISMATCH: (None, None, None),
    Breakage.GONE: (NOT_FOUND, NOT_FOUND, NOT_FOUND),
    Breakage.PARENT_GONE: (None, None, None),
}


def _status(body: bytes | None) -> int:
    if body is None:
        return 200
    return 400 if body == IN_PROGRESS else 404


@pytest.mark.parametrize("kind", list(Breakage), ids=lambda k: k.value)
def test_each_breakage_answers_as_the_reference_registry(
    standalone: Standalone, client: httpx.Client, kind: Breakage
) -> None:
    chain = _seed(standalone.store)
    tip = chain[-1]
    standalone.store.break_image(tip.id, kind)
    for route, expected in zip(("json", "layer", "ancestry"), STATES[kind], strict=True):
        for method in ("GET", "HEAD"):
            answer = client.request(method, f"/v1/images/{tip.id}/{route}")
            assert answer.status_code == _status(expected), (route, method, answer.text)
            if expected is not None:
                assert answer.headers["content-type"] == "application/json"
                assert answer.content == (expected if method == "GET" else b"")
    # The tag and the index list still name the image, whatever its state.
    assert client.get("/v1/repositories/ns/r/tags").json() == {"latest": tip.id}
    assert tip.id in {e["id"] for e in client.get("/v1/repositories/ns/r/images").json()}


def test_in_progress_is_a_push_that_died(standalone: Standalone, client: httpx.Client) -> None:
    """json kept, layer and checksum gone, forever 400; a new push of the image heals it."""
    tip = _seed(standalone.store)[-1]
    standalone.store.break_image(tip.id, Breakage.IN_PROGRESS)
    for route in ("files", "diff"):
        assert client.get(f"/v1/images/{tip.id}/{route}").content == IN_PROGRESS
    checksum = client.put(
        f"/v1/images/{tip.id}/checksum", headers={"X-Docker-Checksum-Payload": tip.checksum}
    )
    assert checksum.status_code == 500
    assert checksum.headers["content-type"].startswith("text/html")
    assert client.put("/v1/repositories/ns/r/tags/again", json=tip.id).status_code == 200
    push_image(client, tip)
    assert client.get(f"/v1/images/{tip.id}/json").content == tip.json_bytes


def test_missing_json_counts_as_absent(standalone: Standalone, client: httpx.Client) -> None:
    chain = _seed(standalone.store)
    tip = chain[-1]
    standalone.store.break_image(tip.id, Breakage.MISSING_JSON)
    layer = client.get(f"/v1/images/{tip.id}/layer")
    assert layer.content == tip.layer_bytes
    assert client.get(f"/v1/images/{tip.id}/ancestry").json() == [i.id for i in reversed(chain)]
    tag = client.put("/v1/repositories/ns/r/tags/other", json=tip.id)
    assert (tag.status_code, tag.content) == (404, NOT_FOUND)
    child = build_image_chain(4, seed=40)[-1]
    refused = client.put(f"/v1/images/{child.id}/json", content=child.json_bytes)
    assert refused.content == _error_body("Image depends on a non existing parent")
    assert client.put(f"/v1/images/{tip.id}/layer", content=b"x").content == NOT_FOUND
    push_image(client, tip)  # REF lets the image be pushed again
    assert client.get(f"/v1/images/{tip.id}/json").content == tip.json_bytes


def test_missing_layer_drops_the_size_header(standalone: Standalone, client: httpx.Client) -> None:
    tip = _seed(standalone.store)[-1]
    standalone.store.break_image(tip.id, Breakage.MISSING_LAYER)
    answer = client.get(f"/v1/images/{tip.id}/json")
    assert answer.content == tip.json_bytes
    assert "x-docker-size" not in answer.headers
    assert answer.headers["x-docker-checksum-payload"] == tip.checksum
    assert client.get(f"/v1/images/{tip.id}/files").content == NOT_FOUND


def test_corrupt_json_is_served_as_stored(standalone: Standalone, client: httpx.Client) -> None:
    tip = _seed(standalone.store)[-1]
    standalone.store.break_image(tip.id, Breakage.CORRUPT_JSON)
    answer = client.get(f"/v1/images/{tip.id}/json")
    assert answer.headers["content-type"] == "application/json"
    assert tip.json_bytes.startswith(answer.content)
    assert 0 < len(answer.content) < len(tip.json_bytes)
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.content)
    assert answer.headers["x-docker-size"] == str(len(tip.layer_bytes))


def test_checksum_mismatch(standalone: Standalone, client: httpx.Client) -> None:
    tip = _seed(standalone.store)[-1]
    standalone.store.break_image(tip.id, Breakage.CHECKSUM_MISMATCH)
    json_answer = client.get(f"/v1/images/{tip.id}/json")
    layer = client.get(f"/v1/images/{tip.id}/layer").content
    assert (json_answer.content, layer) == (tip.json_bytes, tip.layer_bytes)
    served = json_answer.headers["x-docker-checksum-payload"]
    assert served.startswith("sha256:")
    assert served != payload_checksum(json_answer.content, layer)


def test_broken_parent_chain(standalone: Standalone, client: httpx.Client) -> None:
    """REF computed the ancestry at push time, so it still lists the parent that is gone."""
    base, parent, tip = _seed(standalone.store)
    standalone.store.break_image(tip.id, Breakage.PARENT_GONE)
    assert client.get(f"/v1/images/{tip.id}/ancestry").json() == [tip.id, parent.id, base.id]
    for route in ("json", "layer", "ancestry"):
        assert client.get(f"/v1/images/{parent.id}/{route}").content == NOT_FOUND
    assert client.get(f"/v1/images/{base.id}/json").status_code == 200
    with pytest.raises(ValueError, match="no parent"):
        standalone.store.break_image(base.id, Breakage.PARENT_GONE)
    with pytest.raises(ValueError, match="no image"):
        standalone.store.break_image(parent.id, Breakage.GONE)


def test_dangling_and_unreadable_tags(standalone: Standalone, client: httpx.Client) -> None:
    tip = _seed(standalone.store)[-1]
    missing = hashlib.sha256(b"never pushed").hexdigest()
    standalone.store.force_tag("ns/r", "dangling", missing)
    assert client.get("/v1/repositories/ns/r/tags").json() == {
        "dangling": missing,
        "latest": tip.id,
    }
    assert client.get("/v1/repositories/ns/r/tags/dangling").json() == missing
    assert client.get(f"/v1/images/{missing}/json").content == NOT_FOUND
    standalone.store.corrupt_tag("ns/r", "spoilt")
    for path in ("/v1/repositories/ns/r/tags", "/v1/repositories/ns/r/tags/spoilt"):
        answer = client.get(path)
        assert answer.status_code == 500
        assert answer.headers["content-type"].startswith("text/html")
        assert b"Internal Server Error" in answer.content
    assert client.get("/v1/repositories/ns/r/tags/latest").json() == tip.id
    assert client.delete("/v1/repositories/ns/r/tags/spoilt").content == b"true"
    assert client.get("/v1/repositories/ns/r/tags").status_code == 200


# -- the messy preset -------------------------------------------------------------------


@pytest.fixture(scope="module")
def messy() -> Iterator[tuple[Standalone, MessyRegistry]]:
    with run_standalone() as reg:
        started = time.monotonic()
        described = seed_messy(reg.store)
        assert time.monotonic() - started < 10  # about 1 s; a bomb is never produced whole
        yield reg, described


def _check_probe(c: httpx.Client, problem: PlantedFault) -> None:
    probe = problem.probe
    answer = c.request(probe.method, probe.path)
    assert answer.status_code == probe.status, (problem, answer.text[:200])
    if probe.error is not None:
        assert answer.content == _error_body(probe.error), problem
    elif probe.status >= 400:
        assert answer.headers["content-type"].startswith("text/html"), problem


def test_messy_description_matches_the_wire(messy: tuple[Standalone, MessyRegistry]) -> None:
    reg, described = messy
    assert {p.fault for p in described.problems} == set(Fault)
    with httpx.Client(base_url=reg.url, timeout=30) as c:
        for problem in described.problems:
            _check_probe(c, problem)
            if problem.tag is not None:
                listed = c.get(f"/v1/repositories/{problem.repository}/tags").json()
                assert listed[problem.tag] == problem.image, problem
        for healthy in described.healthy:
            assert c.get(f"/v1/images/{healthy.image}/ancestry").json() == list(healthy.chain)
        searched = {r["name"] for r in c.get("/v1/search").json()["results"]}
    assert searched == set(described.repositories)


def test_messy_faults_sit_beside_healthy_tags(messy: tuple[Standalone, MessyRegistry]) -> None:
    _, described = messy
    healthy_repositories = {h.repository for h in described.healthy}
    broken_repositories = {p.repository for p in described.problems}
    for repository, tag in described.failing_tags():
        assert repository in healthy_repositories, (repository, tag)
    assert len(healthy_repositories - broken_repositories) >= 2
    untagged = [p for p in described.problems if p.tag is None and p.image is not None]
    assert [p.fault for p in untagged] == [Fault.IN_PROGRESS]
    assert untagged[0].image not in {p.image for p in described.problems if p.tag is not None}
    tagged = {(h.repository, h.tag) for h in described.healthy}
    assert tagged.isdisjoint(described.failing_tags())
    orphan = described.of(Fault.BROKEN_PARENT)[0]
    assert orphan.broken_image != orphan.image


def test_messy_names_and_tags_are_what_they_claim(messy: tuple[Standalone, MessyRegistry]) -> None:
    _, described = messy
    for problem in described.of(Fault.INVALID_NAME):
        if problem.scope == "source":
            with pytest.raises(InvalidInput):
                RepositoryName.parse(problem.repository)
        else:
            assert problem.scope == "v2-name"
            RepositoryName.parse(problem.repository)
            assert problem.repository != problem.repository.lower()
    oci = described.of(Fault.OCI_INVALID_TAG)
    assert {p.tag for p in oci} == {"_tmp", "build_"}
    for problem in oci:
        assert is_tag(problem.tag)
        assert not OCI_REF_NAME.fullmatch(problem.tag or "")
    for healthy in described.healthy:
        assert OCI_REF_NAME.fullmatch(healthy.tag)
        assert healthy.repository == healthy.repository.lower()


def test_messy_description_as_json(messy: tuple[Standalone, MessyRegistry]) -> None:
    _, described = messy
    data = json.loads(described.to_json())
    assert data["bomb_size"] == DEFAULT_BOMB_SIZE
    assert len(data["problems"]) == len(described.problems)
    first = data["problems"][0]
    assert first["fault"] == described.problems[0].fault.value
    assert first["reason"] == described.problems[0].reason
    assert first["probe"]["status"] == described.problems[0].probe.status
    assert [h["tag"] for h in data["healthy"]] == [h.tag for h in described.healthy]
    assert described.problem("legacy/web", "uploading") is not None
    assert described.problem("legacy/web", "latest") is None
    with pytest.raises(ValueError, match="already holds"):
        seed_messy(messy[0].store)


def test_messy_healthy_tags_pull_with_the_client(
    messy_registry: tuple[Standalone, MessyRegistry], tmp_path: Path
) -> None:
    """Through the plugin's fixture, as tests in other areas use it."""
    reg, described = messy_registry
    with Client(reg.url) as client:
        for number, healthy in enumerate(described.healthy):
            dest = tmp_path / f"{number}.tar"
            result = client.pull(healthy.repository, healthy.tag, dest)
            assert result.image_id == healthy.image
            assert [layer.image_id for layer in result.layers] == list(reversed(healthy.chain))
            with tarfile.open(dest) as archive:
                names = set(archive.getnames())
            assert {f"{image}/layer.tar" for image in healthy.chain} <= names


# -- compression bombs -----------------------------------------------------------------


def _prefix(fmt: BombFormat, layer: bytes, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` plain bytes, and whether the stream ended (never more is made)."""
    if fmt is BombFormat.BZIP2:
        decoder = bz2.BZ2Decompressor()
        return decoder.decompress(layer, limit), decoder.eof
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    return inflater.decompress(layer, limit), inflater.eof


@pytest.mark.parametrize("fmt", list(BombFormat), ids=lambda f: f.value)
def test_bomb_is_small_honest_and_huge(
    messy: tuple[Standalone, MessyRegistry], fmt: BombFormat
) -> None:
    reg, described = messy
    problem = next(p for p in described.of(Fault.COMPRESSION_BOMB) if p.tag == f"{fmt.value}-bomb")
    with httpx.Client(base_url=reg.url, timeout=30) as c:
        metadata = c.get(f"/v1/images/{problem.image}/json")
        layer = c.get(f"/v1/images/{problem.image}/layer").content
    size = described.bomb_size
    assert len(layer) < (64 << 10 if fmt is BombFormat.BZIP2 else size // 1000)
    assert metadata.headers["x-docker-checksum-payload"] == payload_checksum(
        metadata.content, layer
    )
    assert metadata.headers["x-docker-size"] == str(len(layer))
    assert json.loads(metadata.content)["Size"] == size
    plain, ended = _prefix(fmt, layer, 1 << 20)
    assert (len(plain), ended) == (1 << 20, False)
    header = tarfile.TarInfo.frombuf(plain[:512], "utf-8", "surrogateescape")
    assert (header.name, header.size) == ("zeros.img", size - 1536)
    assert plain[512:] == bytes(len(plain) - 512)


def _pieces(fmt: BombFormat, layer: bytes) -> Iterator[bytes]:
    """The plain bytes in pieces of 4 MiB; fails unless the stream ends exactly at its end."""
    if fmt is BombFormat.BZIP2:
        unbzip = bz2.BZ2Decompressor()
        data = layer
        while not unbzip.eof:
            yield unbzip.decompress(data, 4 << 20)
            data = b""
        assert unbzip.unused_data == b""
        return
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    data = layer
    while not inflater.eof:
        yield inflater.decompress(data, 4 << 20)
        data = inflater.unconsumed_tail
    assert inflater.unused_data == b""


@pytest.mark.parametrize("fmt", list(BombFormat), ids=lambda f: f.value)
def test_bomb_structure_decodes_to_the_exact_size(fmt: BombFormat) -> None:
    """A smaller bomb of the same construction (several repeated blocks) decoded in pieces:
    the exact size, a valid CRC at the end, a tar of one file, nothing left over."""
    size = 130 << 20
    layer = bomb_layer(fmt, size)
    total, first = 0, b""
    for piece in _pieces(fmt, layer):
        first = first or piece
        total += len(piece)
        assert piece.count(0) == len(piece) or total == len(piece)
    assert total == size
    assert tarfile.TarInfo.frombuf(first[:512], "utf-8", "surrogateescape").size == size - 1536
    image = bomb_image(fmt, size)
    assert image.checksum == payload_checksum(image.json_bytes, layer)
    with pytest.raises(ValueError, match="multiple of 512"):
        bomb_layer(fmt, 1000)


def test_crc32_combine_matches_zlib() -> None:
    left, right = b"regv1" * 1000, bytes(3 << 20) + b"end"
    combined = crc32_combine(zlib.crc32(left), zlib.crc32(right), len(right))
    assert combined == zlib.crc32(left + right)
    assert crc32_combine(7, 0, 0) == 7


# -- persistence and the CLI -----------------------------------------------------------


def test_broken_states_survive_a_restart(tmp_path: Path) -> None:
    with run_standalone(data_dir=tmp_path) as reg:
        described = seed_messy(reg.store, bomb_size=SMALL_BOMB)
    nojson = described.of(Fault.MISSING_JSON)[0].image
    assert not (tmp_path / "images" / str(nojson) / "json").exists()
    with run_standalone(data_dir=tmp_path) as reg, httpx.Client(base_url=reg.url) as c:
        for problem in described.problems:
            _check_probe(c, problem)
        for healthy in described.healthy[:2]:
            assert c.get(f"/v1/images/{healthy.image}/layer").status_code == 200


def test_serve_flags_mirror_the_store_api() -> None:
    assert tuple(kind.value for kind in Breakage) == BREAKAGES
    assert CLI_BOMB_SIZE == DEFAULT_BOMB_SIZE


def test_regv1_serve_seed_messy_break_and_corrupt(tmp_path: Path) -> None:
    expected = seed_messy(Store(), bomb_size=SMALL_BOMB)
    service = next(h for h in expected.healthy if h.repository == "team/service")
    description = tmp_path / "messy.json"
    argv = [str(REGV1), "serve", "--port", "0", "--seed", "messy", "--bomb-size", "1M"]
    argv += ["--describe", str(description), "--break", f"{service.image}:missing-layer"]
    argv += ["--corrupt-tag", "library/busybox:spoilt"]
    process = interruptible.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().removeprefix("registry: ")
        assert json.loads(description.read_text()) == expected.as_dict()
        with httpx.Client(base_url=url) as c:
            assert c.get(f"/v1/images/{service.image}/layer").content == NOT_FOUND
            assert c.get("/v1/repositories/busybox/tags").status_code == 500
            _check_probe(c, expected.of(Fault.IN_PROGRESS)[0])
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--break", f"{'ab' * 32}:gone"], 1, f"error: no image {'ab' * 32} in the store"),
        (["--break", "abc:nothing"], 1, "expected IMAGE_ID:KIND"),
        (["--describe", "x.json"], 1, "--describe only applies with --seed"),
        (["--seed", "messy", "--bomb-size", "1000"], 1, "error: the bomb size must be"),
        (["--corrupt-tag", "no-tag"], 1, "expected REPOSITORY:TAG"),
    ],
)
def test_regv1_serve_refuses_bad_states(args: list[str], code: int, message: str) -> None:
    done = subprocess.run(
        [str(REGV1), "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == code
    assert message in done.stderr
    assert "Traceback" not in done.stderr
