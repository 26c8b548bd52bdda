"""Shards that share base layers: ``regv1 migrate --bases`` stages the layers used by
two or more repositories in the destination's ``regv1-bases`` repository once, then
shards running at once (subprocesses, a journal each) mount them from there instead
of each uploading them, and together they write what one unsharded run writes.

Counts come from distribution's request log: every completed blob upload (a final
``PUT …?digest=`` or a monolithic ``POST …?digest=``, answered 201) and every mount."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from docker_registry_v1 import Client
from docker_registry_v1.cli import main
from docker_registry_v1.emulator.server import run_standalone
from docker_registry_v1.engine.blobs import BlobCache
from docker_registry_v1.engine.journal import Journal
from docker_registry_v1.engine.model import Layer, LayerStream, Restarted
from docker_registry_v1.engine.sources import registry_origin
from docker_registry_v1.formats.compress import DEFAULT_LEVEL
from docker_registry_v1.oci.client import OCIClient
from docker_registry_v1.transfer.migrate_bases import (
    LABEL_IMAGE,
    LABEL_KEYS,
    LABEL_SOURCE,
    StagedBases,
    bases_repository,
)
from migrate_checks import Seeded, log_size, mount_requests
from migrate_support import seed_registry
from v2.v2registry import PASSWORD, USER, V2Registry

REGV1 = Path(sys.executable).with_name("regv1")
STAGING = "regv1-bases"
SELECTED = "app0|base0"
"""Ten repositories on the three shared base chains: enough for three shards."""
SHARDS = 3
_UPLOAD = re.compile(
    r'http\.request\.method=(?:PUT|POST) .*http\.request\.uri="/v2/(?P<name>[^"]+?)/blobs/'
    r'uploads/[^"]*[?&]digest=sha256%3A(?P<hex>[0-9a-f]{64})[^"]*".*http\.response\.status=201'
)


def uploads(registry: V2Registry, since: int = 0) -> list[tuple[str, str]]:
    """(repository, digest) of every blob upload distribution completed."""
    lines = registry.log_path.read_text(errors="replace").splitlines()[since:]
    found = (_UPLOAD.search(line) for line in lines if "response completed" in line)
    return [(match["name"], f"sha256:{match['hex']}") for match in found if match]


def regv1(*args: str) -> Any:
    result: Result = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def shared_images(seeded: Seeded) -> set[str]:
    """The images that tags of two or more selected repositories need."""
    used = seeded.unique_images(SELECTED)
    return {
        i for i in used if len([r for r in seeded.seed.shared_by(i) if re.search(SELECTED, r)]) > 1
    }


def tops(seeded: Seeded, shared: set[str]) -> set[str]:
    """For each selected tag, the highest shared image of its chain: the staging tags."""
    chains = [seeded.seed.chains[tip] for tip in seeded.tips(SELECTED)]
    return {[image for image in chain if image in shared][-1] for chain in chains}


def run_shards(seeded: Seeded, registry: V2Registry, tmp_path: Path) -> list[Any]:
    """The shards at once, as `parallel regv1 migrate … --shard {}/N` starts them."""
    command = [
        str(REGV1),
        "migrate",
        "--no-provenance",
        seeded.host,
        f"docker://{registry.host}",
        "--include",
        SELECTED,
        "--json",
    ]
    runs = [
        subprocess.Popen(
            [*command, "--shard", f"{index}/{SHARDS}", "--journal", str(tmp_path / f"s{index}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for index in range(SHARDS)
    ]
    done = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0] * SHARDS, [err for _, err in done]
    return [json.loads(out) for out, _ in done]


def never_read(_: Restarted) -> LayerStream:
    raise AssertionError("learning from the staging repository reads no layer")


def manifests(reports: list[Any]) -> dict[str, str]:
    return {t["destination"]: t["digest"] for report in reports for t in report["tags"]}


def test_shared_layers_go_up_once_across_concurrent_shards_and_the_union_is_one_run(
    seeded: Seeded, v2_fresh: V2Registry, v2_second: V2Registry, tmp_path: Path
) -> None:
    registry = v2_fresh
    shared = shared_images(seeded)
    assert len(shared) == 9  # three base chains of three layers

    staged = regv1(
        "migrate",
        "--no-provenance",
        seeded.host,
        f"docker://{registry.host}",
        "--include",
        SELECTED,
        "--bases",
        "--journal",
        str(tmp_path / "bases"),
    )
    staging = tops(seeded, shared)
    assert len(staging) == 3  # one tag per base chain holds its three layers
    assert {t["destination"] for t in staged["tags"]} == {f"{STAGING}:{i}" for i in staging}
    assert {t["status"] for t in staged["tags"]} == {"copied"}
    staged_uploads = uploads(registry)
    staged_blobs = {digest for _, digest in staged_uploads}
    # Each shared layer read once and uploaded once (plus a config per staging tag).
    assert sorted(seeded.layer_gets()) == sorted(shared)
    assert len(staged_uploads) == len(set(staged_uploads)) == len(shared) + len(staging)
    mark, reads = log_size(registry), len(seeded.layer_gets())

    reports = run_shards(seeded, registry, tmp_path)
    counts = Counter(digest for _, digest in uploads(registry))
    assert max(counts.values()) == 1  # no blob went up twice, whichever process sent it
    shard_uploads = {digest for _, digest in uploads(registry, mark)}
    assert not shard_uploads & staged_blobs
    # The shards read only their own images; every shared one was mounted from staging.
    assert set(seeded.layer_gets()[reads:]) == seeded.unique_images(SELECTED) - shared
    from_staging = [m for m in mount_requests(registry, mark) if m[1] == STAGING]
    assert {answer for *_, answer in from_staging} == {201}
    layer_blobs = staged_blobs & {m[2] for m in from_staging}
    assert len(layer_blobs) == len(shared)
    mounted = sum(report["summary"]["blobs_mounted"] for report in reports)
    assert mounted >= len(from_staging)
    # What a shard learned from staging is enough for its fast verify.
    checked = regv1(
        "migrate",
        "--no-provenance",
        "--verify=fast",
        seeded.host,
        f"docker://{registry.host}",
        "--include",
        SELECTED,
        "--shard",
        f"0/{SHARDS}",
        "--journal",
        str(tmp_path / "s0"),
    )
    assert checked["checked"] == len(reports[0]["tags"]) > 0
    assert checked["mismatches"] == []

    # The union of the shards is what one unsharded run writes (into another registry).
    whole = regv1(
        "migrate",
        "--no-provenance",
        seeded.host,
        f"docker://{v2_second.host}",
        "--include",
        SELECTED,
        "--journal",
        str(tmp_path / "whole"),
    )
    assert manifests(reports) == manifests([whole])
    assert len(manifests([whole])) == len(whole["tags"]) > 20


def test_a_staging_tag_from_another_source_or_level_is_not_trusted(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    registry = v2_fresh
    stage = (
        "migrate",
        "--no-provenance",
        seeded.host,
        f"docker://{registry.host}",
        "--include",
        "app01$|app04$",
        "--bases",
        "--journal",
    )
    first = regv1(*stage, str(tmp_path / "bases"))
    assert {t["status"] for t in first["tags"]} == {"copied"}
    # Idempotent: a rerun (with its journal, or without it: the labels are checked) sends
    # nothing and finds every staging tag current.
    sent = len(uploads(registry))
    for journal in ("bases", "bases-lost"):
        again = regv1(*stage, str(tmp_path / journal))
        assert {t["status"] for t in again["tags"]} == {"current"}
        assert manifests([again]) == manifests([first])
    assert len(uploads(registry)) == sent
    oci = OCIClient(registry.url)
    (top,) = oci.tags(STAGING)  # app01 and app04 share base chain 1: one staging tag
    chain = seeded.seed.chains[top]
    assert len(chain) == 3
    source = Client(seeded.emulator.url)
    metas = [source.image.get_metadata_raw(image_id) for image_id in chain]
    layers = [
        Layer(i, m.json_bytes, None, never_read, checksum=m.checksum)
        for i, m in zip(chain, metas, strict=True)
    ]
    manifest = json.loads(oci.get_manifest(STAGING, top).data)
    digests = [layer["digest"] for layer in manifest["layers"]]
    config = json.loads(oci.get_blob(STAGING, manifest["config"]["digest"]))
    labels = config["config"]["Labels"]
    assert labels[LABEL_SOURCE] == registry_origin(source)
    assert labels[LABEL_IMAGE] == top
    assert labels[LABEL_KEYS].split() == [
        BlobCache.key(i, m.checksum, DEFAULT_LEVEL) for i, m in zip(chain, metas, strict=True)
    ]

    def learned(origin: str, level: int, name: str) -> list[str]:
        """The digests a run with this source and level takes from staging, base first."""
        with Journal(tmp_path / name) as journal:
            staged = StagedBases(
                oci, STAGING, journal=journal, registry=registry.url, origin=origin, level=level
            )
            found = [blob.digest for blob in staged.learn(layers).values()]
            placed = [d for d in digests if journal.places(registry.url, d) == [STAGING]]
            assert placed == found
            return found

    assert learned(labels[LABEL_SOURCE], DEFAULT_LEVEL, "right") == digests
    assert learned("http://elsewhere.example:5000", DEFAULT_LEVEL, "other-source") == []
    assert learned(labels[LABEL_SOURCE], DEFAULT_LEVEL - 1, "other-level") == []

    # A source registry at another address holding the same v1 ids: its shard uploads
    # the base layers itself, mounting nothing from staging.
    with run_standalone() as other:
        seed_registry(other.store, repos=30, tags_per_repo=3, base_chains=3, seed=14)
        mark = log_size(registry)
        report = regv1(
            "migrate",
            "--no-provenance",
            other.url.removeprefix("http://"),
            f"docker://{registry.host}",
            "--include",
            "app01$",
            "--shard",
            "0/1",
            "--journal",
            str(tmp_path / "other"),
        )
    assert {t["status"] for t in report["tags"]} == {"copied"}
    assert [m for m in mount_requests(registry, mark) if m[1] == STAGING] == []
    own = {digest for _, digest in uploads(registry, mark)}
    assert set(digests) <= own


def test_bases_need_a_registry_and_a_name_it_takes(seeded: Seeded, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["migrate", "--no-provenance", seeded.host, f"oci:{tmp_path}", "--bases"],
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    assert "--bases and --bases-repo need a docker:// DEST" in result.output
    assert bases_repository(None) == STAGING
    assert bases_repository(None, "legacy/") == f"legacy/{STAGING}"
    with pytest.raises(ValueError, match="--bases-repo"):
        bases_repository("Bases")
    refused = CliRunner().invoke(
        main,
        [
            "migrate",
            "--no-provenance",
            seeded.host,
            "docker://127.0.0.1:9",
            "--bases-repo",
            "Bases",
        ],
    )
    assert refused.exit_code == 1
    assert refused.output.startswith("error: --bases-repo: 'Bases'")
    assert "Traceback" not in refused.output
    assert not list(tmp_path.glob("state/**/*.sqlite"))  # refused before any journal


def test_with_tokens_a_shard_mounts_from_staging_and_a_dry_run_lists_the_staging_tags(
    seeded: Seeded, v2_token_fresh: V2Registry, tmp_path: Path
) -> None:
    registry = v2_token_fresh
    pair = "app01$|app04$"  # two repositories on base chain 1
    shared = seeded.unique_images("app01$") & seeded.unique_images("app04$")
    assert len(shared) == 3
    common = (
        "migrate",
        "--no-provenance",
        seeded.host,
        f"docker://{registry.host}",
        "--dest-creds",
        f"{USER}:{PASSWORD}",
        "--include",
        pair,
    )
    plan = regv1(*common, "--bases", "--dry-run", "--journal", str(tmp_path / "bases"))
    (top,) = {seeded.seed.chains[tip][2] for tip in seeded.tips(pair)}  # base chain 1's top
    assert top in shared
    assert [t["destination"] for t in plan["plan"]] == [f"{STAGING}:{top}"]
    assert uploads(registry) == []
    regv1(*common, "--bases", "--journal", str(tmp_path / "bases"))
    staged = {digest for _, digest in uploads(registry)}
    mark = log_size(registry)

    report = regv1(*common, "--shard", "0/1", "--journal", str(tmp_path / "shard"))
    assert {t["status"] for t in report["tags"]} == {"copied"}
    from_staging = {m[2] for m in mount_requests(registry, mark) if m[1] == STAGING and m[3] == 201}
    assert len(from_staging) == len(shared)
    assert from_staging < staged
    assert not {digest for _, digest in uploads(registry, mark)} & staged
