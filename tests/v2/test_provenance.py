"""The v1 provenance artifact a migration attaches to each manifest, on real registries.

One seeded v1 emulator (gzip layers and plain-tar layers, each with a base chain shared
by a second tag) is migrated once per destination kind, in module fixtures:

- Debian's distribution 2.8 (no referrers API): the artifact is found through the
  fallback tag ``sha256-<hex>``; a counting proxy in front of it shows that a rerun
  writes nothing, and that a rerun after ``--no-provenance`` attaches the artifacts
  without moving a layer;
- go-containerregistry's registry with the referrers API switched on: listed by
  ``GET /v2/<name>/referrers/<digest>`` and no fallback tag is written;
- an OCI layout: an untagged ``index.json`` entry that skopeo and umoci pass over.

Each record is compared with what the emulator serves: the same ids base first, the
v1 JSON byte for byte, the v1 checksum, the layer's compression and size, and the v2
blob and diff_id the manifest and config name. The tests of a module run in file
order (``--dist loadfile``); the ones that delete an artifact come last.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from counting_proxy import CountingProxy, counting_proxy
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.emulator.server import run_standalone
from docker_registry_v1.formats.archive.compression import Compression
from docker_registry_v1.formats.layout import OCILayout
from docker_registry_v1.formats.provenance import (
    ARTIFACT_TYPE,
    Provenance,
    Stored,
    fallback_tag,
    is_fallback_tag,
)
from docker_registry_v1.oci.client import OCIClient
from docker_registry_v1.oci.referrers import read_provenance, referrers
from referrers_server import referrers_registry
from regv1_runner import document, regv1
from system_tools import require_tool, skopeo
from v2registry import run_registry

GZIP = build_image_chain(3, seed=2101, layer_size=3000, gzip=True)
PLAIN = build_image_chain(3, seed=2102, layer_size=3000, gzip=False)
SEED: dict[str, list[SeedImage]] = {
    "acme/gz:1.0": GZIP,
    "acme/gz:base": GZIP[:2],
    "acme/plain:1.0": PLAIN,
    "team/plainbase:1.0": PLAIN[:2],
}
"""Source ``repository:tag`` → its chain, base first (shared bases in each kind)."""
IMAGES = {image.id: image for chain in SEED.values() for image in chain}
SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def source() -> Iterator[Standalone]:
    with run_standalone() as emulator:
        for reference, chain in SEED.items():
            repository, _, tag = reference.partition(":")
            emulator.store.seed(repository, tag, chain)
        yield emulator


def inspect(reference: str) -> Any:
    """``skopeo inspect`` of a loopback registry's ``reference`` (plain http), parsed."""
    return json.loads(skopeo("inspect", "--tls-verify=false", reference))


def host_of(emulator: Standalone) -> str:
    return emulator.url.removeprefix("http://").rstrip("/")


def migrate(emulator: Standalone, dest: str, journal: Path, *more: str) -> dict[str, Any]:
    report = document(
        regv1("migrate", host_of(emulator), dest, "--journal", str(journal), "--json", *more)
    )
    assert {tag["source"] for tag in report["tags"]} == set(SEED)
    return report


def digests(report: dict[str, Any]) -> dict[str, str]:
    """Destination ``repository:tag`` → manifest digest."""
    return {tag["destination"]: tag["digest"] for tag in report["tags"]}


def check_record(
    records: list[Provenance], emulator: Standalone, reference: str, manifest: bytes, config: bytes
) -> None:
    """One record, and it is the source's chain exactly, mapped onto this manifest."""
    (record,) = records
    repository, _, tag = reference.partition(":")
    assert record.source.registry == emulator.url.rstrip("/")
    assert (record.source.repository, record.source.tag) == (repository, tag)
    chain = SEED[reference]
    assert [image.id for image in record.images] == [image.id for image in chain]
    layers = json.loads(manifest)["layers"]
    diff_ids = json.loads(config)["rootfs"]["diff_ids"]
    assert len(layers) == len(diff_ids) == len(chain)
    for image, seeded, layer, diff_id in zip(record.images, chain, layers, diff_ids, strict=True):
        assert image.json == seeded.json_bytes  # byte for byte
        assert image.checksums == (seeded.checksum,)
        gzipped = seeded.layer_bytes[:2] == b"\x1f\x8b"
        assert image.layer.compression is (Compression.GZIP if gzipped else Compression.NONE)
        assert image.layer.stored is (Stored.AS_IS if gzipped else Stored.GZIP)
        assert image.layer.v1_size == len(seeded.layer_bytes)
        assert image.layer.digest == layer["digest"]
        assert image.layer.diff_id == diff_id


def check_registry_records(client: OCIClient, emulator: Standalone, moved: dict[str, str]) -> None:
    for reference, digest in moved.items():
        repository, _, _ = reference.partition(":")
        manifest = client.get_manifest(repository, digest)
        config = client.get_blob(repository, json.loads(manifest.data)["config"]["digest"])
        records = read_provenance(client, repository, digest)
        check_record(records, emulator, reference, manifest.data, config)


# --- distribution 2.8: the fallback tag ---------------------------------------------


@pytest.fixture(scope="module")
def distribution(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CountingProxy]:
    root = tmp_path_factory.mktemp("provenance-distribution")
    with run_registry("none", root) as registry, counting_proxy(registry.host) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def into_distribution(
    source: Standalone, distribution: CountingProxy, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    journal = tmp_path_factory.mktemp("provenance-journal") / "journal.sqlite"
    return migrate(source, f"docker://{distribution.host}", journal), journal


def test_distribution_gets_the_fallback_tag_and_the_record_is_the_v1_chain(
    source: Standalone,
    distribution: CountingProxy,
    into_distribution: tuple[dict[str, Any], Path],
) -> None:
    report, _ = into_distribution
    moved = digests(report)
    with OCIClient(f"http://{distribution.host}") as client:
        for reference, digest in moved.items():
            repository = reference.partition(":")[0]
            assert client.referrers(repository, digest) is None  # no referrers API
            tags = set(client.tags(repository))
            assert fallback_tag(digest) in tags
            index = json.loads(client.get_manifest(repository, fallback_tag(digest)).data)
            (entry,) = index["manifests"]
            assert entry["artifactType"] == ARTIFACT_TYPE
            assert referrers(client, repository, digest) == [entry]
        check_registry_records(client, source, moved)


def test_skopeo_sees_the_same_image_with_provenance_on_and_off(
    source: Standalone,
    distribution: CountingProxy,
    into_distribution: tuple[dict[str, Any], Path],
    tmp_path: Path,
) -> None:
    report, _ = into_distribution
    off = migrate(
        source, f"docker://{distribution.host}/off", tmp_path / "off.sqlite", "--no-provenance"
    )
    with OCIClient(f"http://{distribution.host}") as client:
        for reference, digest in digests(off).items():
            repository, _, _ = reference.partition(":")
            assert client.referrers(repository, digest) is None
            assert referrers(client, repository, digest) == []  # --no-provenance wrote none
            assert not any(is_fallback_tag(tag) for tag in client.tags(repository))
    for reference, digest in digests(report).items():
        on = inspect(f"docker://{distribution.host}/{reference}")
        without = inspect(f"docker://{distribution.host}/off/{reference}")
        assert on["Digest"] == without["Digest"] == digest
        assert [t for t in on["RepoTags"] if not is_fallback_tag(t)] == without["RepoTags"]
        for field in ("Name", "RepoTags"):
            del on[field], without[field]
        assert on == without


def test_a_rerun_writes_nothing_and_a_tag_migrated_without_gets_it_cheaply(
    source: Standalone,
    distribution: CountingProxy,
    into_distribution: tuple[dict[str, Any], Path],
    tmp_path: Path,
) -> None:
    report, journal = into_distribution
    dest = f"docker://{distribution.host}"
    since = distribution.mark()
    again = migrate(source, dest, journal)
    assert {tag["status"] for tag in again["tags"]} == {"current"}
    counts = distribution.counts(since)
    writes = {kind: n for kind, n in counts.items() if kind.split()[0] in {"PUT", "POST", "PATCH"}}
    assert writes == {}, counts  # no second artifact, the fallback index left alone

    # A migration run with --no-provenance, then again without: the artifacts are
    # attached from the journal, no layer is read or looked up.
    later = tmp_path / "later.sqlite"
    migrate(source, f"{dest}/later", later, "--no-provenance")
    layer_gets = len([e for e in source.log.entries if e.path.endswith("/layer")])
    since = distribution.mark()
    attached = migrate(source, f"{dest}/later", later)
    assert {tag["status"] for tag in attached["tags"]} == {"current"}
    counts = distribution.counts(since)
    assert counts["PUT manifests"] == 2 * len(SEED)  # each artifact and its fallback index
    assert counts["HEAD blobs"] <= 2 * len(SEED)  # the empty config only, no layer
    assert len([e for e in source.log.entries if e.path.endswith("/layer")]) == layer_gets
    with OCIClient(f"http://{distribution.host}") as client:
        later_digests = digests(attached)
        assert later_digests == {f"later/{k}": v for k, v in digests(report).items()}
        for reference, digest in later_digests.items():
            repository = reference.partition(":")[0]
            assert len(read_provenance(client, repository, digest)) == 1
    since = distribution.mark()
    migrate(source, f"{dest}/later", later)
    assert not [k for k in distribution.counts(since) if k.startswith(("PUT", "POST"))]


def test_verify_requires_the_artifact_and_names_the_tag_that_lost_it(
    source: Standalone,
    distribution: CountingProxy,
    into_distribution: tuple[dict[str, Any], Path],
) -> None:
    report, journal = into_distribution
    dest = f"docker://{distribution.host}"
    args = ("migrate", "--verify=fast", host_of(source), dest, "--journal", str(journal))
    checked = document(regv1(*args, "--json"))
    assert checked["checked"] == len(SEED)
    assert checked["mismatches"] == []
    # Delete the fallback index of one tag (by its digest: distribution 2.8 deletes no tag).
    reference, digest = sorted(digests(report).items())[0]
    repository, _, tag = reference.partition(":")
    with OCIClient(f"http://{distribution.host}") as client:
        index = client.get_manifest(repository, fallback_tag(digest))
        client.delete_manifest(repository, index.digest)
    failed = regv1(*args)
    assert failed.exit_code == 2
    lines = [line.split("\t") for line in failed.stdout.splitlines() if "\t" in line]
    assert [(line[0], line[1], line[2]) for line in lines] == [
        (repository, tag, "provenance missing")
    ]
    assert "no v1 provenance artifact refers to the manifest" in lines[0][4]
    # With provenance off, verify does not ask for it.
    assert regv1(*args, "--no-provenance").exit_code == 0


# --- go-containerregistry with the referrers API --------------------------------------


@pytest.fixture(scope="module")
def ggcr() -> Iterator[str]:
    with referrers_registry() as url:
        yield url


@pytest.fixture(scope="module")
def into_ggcr(
    source: Standalone, ggcr: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    journal = tmp_path_factory.mktemp("provenance-ggcr") / "journal.sqlite"
    return migrate(source, f"docker://{ggcr.removeprefix('http://')}", journal), journal


def test_a_referrers_registry_lists_it_and_gets_no_fallback_tag(
    source: Standalone, ggcr: str, into_ggcr: tuple[dict[str, Any], Path]
) -> None:
    report, _ = into_ggcr
    moved = digests(report)
    for reference, digest in moved.items():
        repository, _, tag = reference.partition(":")
        answer = httpx.get(f"{ggcr}/v2/{repository}/referrers/{digest}")
        assert answer.status_code == 200
        (entry,) = answer.json()["manifests"]
        assert entry["mediaType"] == OCI_MANIFEST
        tags = httpx.get(f"{ggcr}/v2/{repository}/tags/list").json()["tags"]
        assert not any(is_fallback_tag(name) for name in tags)
        assert tag in tags
    with OCIClient(ggcr) as client:
        check_registry_records(client, source, moved)


def test_verify_fails_once_the_artifact_is_deleted_from_a_referrers_registry(
    source: Standalone, ggcr: str, into_ggcr: tuple[dict[str, Any], Path]
) -> None:
    report, journal = into_ggcr
    dest = f"docker://{ggcr.removeprefix('http://')}"
    args = ("migrate", "--verify=fast", host_of(source), dest, "--journal", str(journal))
    assert regv1(*args).exit_code == 0
    reference, digest = sorted(digests(report).items())[-1]
    repository, _, tag = reference.partition(":")
    with OCIClient(ggcr) as client:
        (entry,) = client.referrers(repository, digest) or []
        client.delete_manifest(repository, entry["digest"])
        assert client.referrers(repository, digest) == []
    failed = regv1(*args)
    assert failed.exit_code == 2
    wrong = [line.split("\t")[:3] for line in failed.stdout.splitlines() if "\t" in line]
    assert wrong == [[repository, tag, "provenance missing"]]


# --- an OCI layout --------------------------------------------------------------------


def test_a_layout_lists_it_untagged_and_skopeo_and_umoci_read_the_tags(
    source: Standalone, tmp_path: Path
) -> None:
    root = tmp_path / "layout"
    report = migrate(source, f"oci:{root}", tmp_path / "journal.sqlite")
    moved = digests(report)
    layout = OCILayout(root)
    index = layout.index()["manifests"]
    artifacts = [entry for entry in index if entry.get("artifactType") == ARTIFACT_TYPE]
    assert len(artifacts) == len(SEED)
    assert all("org.opencontainers.image.ref.name" not in e["annotations"] for e in artifacts)
    assert set(layout.refs()) == set(moved)
    for reference, digest in moved.items():
        manifest = layout.read_blob(digest)
        config = layout.read_blob(json.loads(manifest)["config"]["digest"])
        check_record(read_provenance(layout, "", digest), source, reference, manifest, config)
        inspected = json.loads(skopeo("inspect", f"oci:{root}:{reference}"))
        assert inspected["Digest"] == digest
    reference = sorted(moved)[0]
    done = subprocess.run(
        [require_tool("umoci"), "stat", "--image", f"{root}:{reference}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    before = (root / "index.json").read_bytes()
    again = migrate(source, f"oci:{root}", tmp_path / "journal.sqlite")
    assert {tag["status"] for tag in again["tags"]} == {"current"}
    assert (root / "index.json").read_bytes() == before
    checked = document(
        regv1(
            "migrate",
            "--verify=fast",
            host_of(source),
            f"oci:{root}",
            "--journal",
            str(tmp_path / "journal.sqlite"),
            "--json",
        )
    )
    assert checked["mismatches"] == []
    assert checked["checked"] == len(SEED)


# --- a failure is the tag's; copy and --config ----------------------------------------


class RefusingArtifacts(httpx.HTTPTransport):
    """Answers 400 MANIFEST_INVALID to the PUT of a provenance artifact of one repository."""

    def __init__(self, repository: str) -> None:
        super().__init__()
        self.repository = repository

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if (
            request.method == "PUT"
            and f"/v2/{self.repository}/manifests/sha256:" in request.url.path
            and ARTIFACT_TYPE.encode() in request.read()
        ):
            body = {"errors": [{"code": "MANIFEST_INVALID", "message": "no artifacts here"}]}
            return httpx.Response(400, json=body, request=request)
        return super().handle_request(request)


def test_an_artifact_that_cannot_be_written_fails_its_tag_only_and_a_rerun_attaches_it(
    source: Standalone, distribution: CountingProxy, tmp_path: Path
) -> None:
    from docker_registry_v1 import Client  # noqa: PLC0415
    from docker_registry_v1.engine.journal import Journal  # noqa: PLC0415
    from docker_registry_v1.transfer.inventory import inventory  # noqa: PLC0415
    from docker_registry_v1.transfer.migrate import migrate as run  # noqa: PLC0415
    from docker_registry_v1.transfer.migrate_plan import (  # noqa: PLC0415
        RegistrySide,
        plan_migration,
    )
    from docker_registry_v1.transfer.selection import Selection  # noqa: PLC0415

    url = f"http://{distribution.host}"
    selection = Selection.parse(prefix="refused")
    with Client(source.url) as v1, Journal(tmp_path / "journal.sqlite") as journal:
        refusing = RegistrySide(OCIClient(url, transport=RefusingArtifacts("refused/acme/gz")))
        plan = plan_migration(inventory(v1), selection, refusing, journal=journal)
        report = run(v1, refusing, plan, journal=journal)
        outcomes = {o.destination: o for o in report.outcomes}
        failed = {name for name, o in outcomes.items() if o.status == "failed"}
        assert failed == {"refused/acme/gz:1.0", "refused/acme/gz:base"}
        for name in failed:
            reason = outcomes[name].reason or ""
            assert "its provenance artifact is not" in reason, reason
            assert "MANIFEST_INVALID" in reason, reason
        assert {o.status for n, o in outcomes.items() if n not in failed} == {"copied"}

        plain = RegistrySide(OCIClient(url))
        plan = plan_migration(inventory(v1), selection, plain, journal=journal, source=v1)
        again = run(v1, plain, plan, journal=journal)
        assert again.ok
        assert {o.status for o in again.outcomes} == {"current"}
        with OCIClient(url) as client:
            for name in failed:
                repository, _, _ = name.partition(":")
                digest = again_digest(again, name)
                assert len(read_provenance(client, repository, digest)) == 1


def again_digest(report: Any, name: str) -> str:
    (digest,) = [o.digest for o in report.outcomes if o.destination == name]
    assert digest is not None
    return str(digest)


def test_copy_attaches_it_and_no_provenance_in_copy_and_a_config_file_writes_none(
    source: Standalone, tmp_path: Path
) -> None:
    src = f"{host_of(source)}/acme/plain:1.0"
    on, off, configured = tmp_path / "on", tmp_path / "off", tmp_path / "configured"
    copied = document(regv1("copy", src, f"oci:{on}:app", "--cache", str(tmp_path / "c"), "--json"))
    assert len(read_provenance(OCILayout(on), "", copied["digest"])) == 1
    args = ("--no-provenance", "--cache", str(tmp_path / "c"), "--json")
    again = document(regv1("copy", src, f"oci:{off}:app", *args))
    assert again["digest"] == copied["digest"]
    assert read_provenance(OCILayout(off), "", again["digest"]) == []
    assert not [e for e in OCILayout(off).index()["manifests"] if "artifactType" in e]

    config = tmp_path / "migrations.yaml"
    config.write_text(
        f"migrations:\n"
        f"  - source: http://{host_of(source)}\n"
        f"    destinations: [oci:{configured}]\n"
        f"    no-provenance: true\n"
        f"    journal: {tmp_path / 'configured.sqlite'}\n",
        encoding="utf-8",
    )
    done = regv1("migrate", "--config", str(config))
    assert done.exit_code == 0, done.output
    layout = OCILayout(configured)
    assert set(layout.refs()) == set(SEED)
    assert not [e for e in layout.index()["manifests"] if "artifactType" in e]
