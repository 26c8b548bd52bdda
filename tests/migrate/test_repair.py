"""A blob lost at the destination after a migration: a plain rerun does not notice (it
trusts a tag whose manifest is the journal's), ``--verify`` names the tag and the blob,
``--repair`` on the same journal sends it again, and skopeo then reads the tag.

The loss is real: a layer's data file deleted from distribution's filesystem storage
(it keeps no blob cache without a ``storage.cache`` section, so the next HEAD answers
404), or from an ``oci:`` layout's ``blobs/sha256``.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from docker_registry_v1 import (
    Client,
    Journal,
    LayoutSide,
    OCILayout,
    forget_lost_blobs,
    verify_migration,
)
from docker_registry_v1.emulator.server import run_standalone
from docker_registry_v1.formats.convert import ManifestFormat
from docker_registry_v1.oci.client import OCIClient
from migrate_checks import Seeded, uploaded_blobs
from regv1_runner import document, regv1
from system_tools import require_tool
from v2.v2registry import V2Registry

SELECTION = "app0[12]$"
_HEAD_BLOB = re.compile(
    r'http\.request\.method=HEAD .*http\.request\.uri="/v2/(?P<name>[^"]+?)/blobs/'
    r'sha256(?::|%3A)(?P<hex>[0-9a-f]{64})"'
)


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("skopeo"), "--insecure-policy", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _statuses(report: Any) -> dict[str, str]:
    return {tag["destination"]: tag["status"] for tag in report["tags"]}


def _mismatches(report: Any) -> set[tuple[str, str, str, str]]:
    return {(m["repository"], m["tag"], m["what"], m["digest"]) for m in report["mismatches"]}


def _registry_layers(registry: V2Registry, tags: list[str]) -> dict[str, list[str]]:
    """``REPO:TAG`` → the layer digests of its manifest, as distribution serves it."""
    accept = [ManifestFormat.DOCKER.value.manifest]
    with OCIClient(registry.url) as client:
        layers = {}
        for destination in tags:
            name, _, tag = destination.rpartition(":")
            manifest = json.loads(client.get_manifest(name, tag, accept=accept).data)
            layers[destination] = [layer["digest"] for layer in manifest["layers"]]
        return layers


def test_a_blob_lost_by_the_registry_is_named_by_verify_and_sent_again_by_repair(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    journal = str(tmp_path / "j.sqlite")
    dest = f"docker://{v2_fresh.host}"
    run = (
        "migrate",
        "--no-provenance",
        seeded.host,
        dest,
        "--journal",
        journal,
        "--include",
        SELECTION,
    )
    first = document(regv1(*run, "--json"))
    assert set(_statuses(first).values()) == {"copied"}
    layers = _registry_layers(v2_fresh, sorted(_statuses(first)))
    victim_tag = sorted(layers)[0]
    lost = layers[victim_tag][-1]  # the tag's own top layer
    needing = {tag for tag, digests in layers.items() if lost in digests}
    assert victim_tag in needing
    assert len(needing) < len(layers), "some tags do not need the lost blob"

    data = v2_fresh.root / "storage/docker/registry/v2/blobs/sha256" / lost[7:9] / lost[7:] / "data"
    data.unlink()
    with OCIClient(v2_fresh.url) as client:
        assert client.blob_size(victim_tag.rpartition(":")[0], lost) is None
    name, _, tag = victim_tag.rpartition(":")
    out = tmp_path / "out"
    source_ref = f"docker://{v2_fresh.host}/{name}:{tag}"
    broken = skopeo("copy", "--src-tls-verify=false", source_ref, f"oci:{out}:{tag}")
    assert broken.returncode != 0, "the blob really is gone"

    # A plain rerun trusts the journal's manifests: it does not notice, and says so by
    # calling every tag current (the documented cost of a cheap rerun).
    uploads = len(uploaded_blobs(v2_fresh))
    again = document(regv1(*run, "--json"))
    assert set(_statuses(again).values()) == {"current"}
    assert len(uploaded_blobs(v2_fresh)) == uploads

    mark = len(v2_fresh.log_lines())
    verify = regv1(*run, "--verify=fast", "--json")
    checked = document(verify, exit_code=2)
    heads = [_HEAD_BLOB.search(line) for line in v2_fresh.log_lines()[mark:]]
    asked = [(m["name"], m["hex"]) for m in heads if m]
    assert len(asked) == len(set(asked)) == checked["blobs_checked"], "each pair once"
    expected = {(t.rpartition(":")[0], t.rpartition(":")[2], "missing", lost) for t in needing}
    assert _mismatches(checked) == expected
    assert checked["checked"] == len(layers)
    all_blobs = {(t.rpartition(":")[0], d) for t, ds in layers.items() for d in ds}
    assert len(all_blobs) < checked["blobs_checked"] <= 2 * len(all_blobs)  # + configs, once each

    table = regv1(*run, "--verify=fast")
    assert table.exit_code == 2
    assert f"{name}\t{tag}\tmissing\t{lost}\tthe layer blob is missing" in table.stdout.splitlines()
    assert f"verified {len(layers)} tags: {len(needing)} mismatches" in table.stdout

    repaired = document(regv1(*run, "--repair", "--json"))
    assert _mismatches(repaired["repair"]) == expected
    statuses = _statuses(repaired)
    assert {t for t, s in statuses.items() if s == "copied"} == needing
    assert {s for t, s in statuses.items() if t not in needing} == {"current"}
    assert uploaded_blobs(v2_fresh)[uploads:].count(lost) >= 1
    assert repaired["summary"]["images_read"] == 1  # only the lost layer was read again

    assert skopeo("copy", "--src-tls-verify=false", source_ref, f"oci:{out}:{tag}").returncode == 0
    assert OCILayout(out).refs()[tag]
    assert document(regv1(*run, "--verify=fast", "--json"))["mismatches"] == []
    uploads = len(uploaded_blobs(v2_fresh))
    settled = document(regv1(*run, "--repair", "--json"))
    assert set(_statuses(settled).values()) == {"current"}
    assert settled["repair"]["mismatches"] == []
    assert len(uploaded_blobs(v2_fresh)) == uploads


def _sha256_of(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_layout_blob_file_lost_or_cut_short_is_named_and_written_again(
    seeded: Seeded, tmp_path: Path
) -> None:
    journal = str(tmp_path / "j.sqlite")
    root = tmp_path / "layout"
    run = (
        "migrate",
        "--no-provenance",
        f"{seeded.host}/team1/app01",
        f"oci:{root}",
        "--journal",
        journal,
    )
    first = document(regv1(*run, "--json"))
    assert set(_statuses(first).values()) == {"copied"}
    layout = OCILayout(root)
    refs = layout.refs()
    manifests = {ref: json.loads(layout.blob_path(d).read_bytes()) for ref, d in refs.items()}
    layers = {ref: [layer["digest"] for layer in m["layers"]] for ref, m in manifests.items()}
    victim = sorted(refs)[0]
    lost = layers[victim][-1]
    config = manifests[victim]["config"]["digest"]
    layout.blob_path(lost).unlink()
    cut = layout.blob_path(config)
    cut.write_bytes(cut.read_bytes()[:-1])
    repo, _, tag = victim.rpartition(":")
    broken = skopeo("copy", f"oci:{root}:{victim}", f"oci:{tmp_path / 'out'}:{tag}")
    assert broken.returncode != 0

    assert set(_statuses(document(regv1(*run, "--json"))).values()) == {"current"}

    checked = document(regv1(*run, "--verify=fast", "--json"), exit_code=2)
    found = _mismatches(checked)
    assert (repo, tag, "missing", lost) in found
    # A layout file whose bytes are not its digest's is no blob at all: the layout hashes
    # a file before it trusts it, so the cut-short config counts as missing.
    assert (repo, tag, "missing", config) in found
    needing = {ref for ref, digests in layers.items() if lost in digests}
    needing |= {ref for ref, m in manifests.items() if m["config"]["digest"] == config}
    assert {f"{r}:{t}" for r, t, _, _ in found} == needing

    repaired = document(regv1(*run, "--repair", "--json"))
    assert {t for t, s in _statuses(repaired).items() if s == "copied"} == needing
    assert _sha256_of(layout.blob_path(lost)) == lost
    assert _sha256_of(layout.blob_path(config)) == config
    copied = skopeo("copy", f"oci:{root}:{victim}", f"oci:{tmp_path / 'out'}:{tag}")
    assert copied.returncode == 0, copied.stderr
    assert document(regv1(*run, "--verify=fast", "--json"))["mismatches"] == []


def test_repair_is_refused_with_verify_or_dry_run(seeded: Seeded, tmp_path: Path) -> None:
    dest = f"oci:{tmp_path / 'layout'}"
    for other in ("--verify", "--dry-run"):
        result = regv1("migrate", "--no-provenance", "--repair", other, seeded.host, dest)
        assert result.exit_code == 1  # bad input: nothing could start
        assert "--repair migrates: it cannot be combined with --verify or --dry-run" in (
            result.stderr
        )
        assert "Traceback" not in result.output


class _CountingLayout:
    """A layout target whose blob lookups are counted, with the most at once."""

    def __init__(self, target: LayoutSide) -> None:
        self._target = target
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.asked: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def blob_size(self, name: str, digest: str) -> int | None:
        with self._lock:
            self.asked.append((name, digest))
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.02)  # long enough for the other workers to start theirs
        try:
            return self._target.blob_size(name, digest)
        finally:
            with self._lock:
                self.running -= 1


def test_verify_asks_each_pair_once_and_at_most_jobs_at_a_time(
    seeded: Seeded, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    root = tmp_path / "layout"
    document(
        regv1(
            "migrate",
            "--no-provenance",
            seeded.host,
            f"oci:{root}",
            "--journal",
            str(journal),
            "--json",
        )
    )
    for jobs in (1, 3):
        counting = _CountingLayout(LayoutSide(OCILayout(root)))
        with Client(seeded.emulator.url) as source, Journal(journal) as opened:
            report = verify_migration(
                source, counting, opened, fast=True, jobs=jobs, provenance=False
            )
        assert report.ok
        assert report.checked == seeded.seed.tag_count
        assert len(counting.asked) == len(set(counting.asked)) == report.blobs_checked
        assert counting.most == jobs


def test_an_image_lost_by_a_v1_destination_is_named_and_sent_again(
    seeded: Seeded, tmp_path: Path
) -> None:
    journal = str(tmp_path / "j.sqlite")
    with run_standalone() as target:
        dest = target.url.removeprefix("http://")
        run = (
            "migrate",
            "--no-provenance",
            f"{seeded.host}/team1/app01",
            dest,
            "--journal",
            journal,
        )
        first = document(regv1(*run, "--json"))
        assert set(_statuses(first).values()) == {"copied"}
        tags = seeded.seed.repositories["team1/app01"]
        lost = tags[min(tags)]  # the first tag's own image; later tags build on it
        needing = {f"team1/app01:{t}" for t, tip in tags.items() if lost in seeded.seed.chains[tip]}
        with target.store._lock:  # the registry loses the image: json and layer
            del target.store._images[lost]
            target.store._layers.pop(lost, None)

        assert set(_statuses(document(regv1(*run, "--json"))).values()) == {"current"}
        checked = document(regv1(*run, "--verify=fast", "--json"), exit_code=2)
        assert {(m["what"], m["digest"]) for m in checked["mismatches"]} == {("missing", lost)}
        assert {m["destination"] for m in checked["mismatches"]} == needing

        repaired = document(regv1(*run, "--repair", "--json"))
        assert {t for t, s in _statuses(repaired).items() if s == "copied"} == needing
        stored = target.store.image(lost)
        assert stored is not None
        assert stored.complete
        assert document(regv1(*run, "--verify", "--json"))["mismatches"] == []


def test_a_repair_stopped_after_its_check_is_finished_by_a_plain_rerun(
    seeded: Seeded, tmp_path: Path
) -> None:
    """What the check forgot stays forgotten: the journal no longer vouches for the wrong
    tags, so the next run of any kind asks the destination about them and sends the blob."""
    journal = tmp_path / "j.sqlite"
    root = tmp_path / "layout"
    run = (
        "migrate",
        "--no-provenance",
        f"{seeded.host}/team1/app01",
        f"oci:{root}",
        "--journal",
        str(journal),
    )
    document(regv1(*run, "--json"))
    layout = OCILayout(root)
    victim = sorted(layout.refs())[0]
    manifest = json.loads(layout.blob_path(layout.refs()[victim]).read_bytes())
    lost = manifest["layers"][-1]["digest"]
    layout.blob_path(lost).unlink()
    target = LayoutSide(layout)
    with Client(seeded.emulator.url) as source, Journal(journal) as opened:
        checked = verify_migration(source, target, opened, fast=True, provenance=False)
        assert {m.digest for m in checked.mismatches} == {lost}
        assert forget_lost_blobs(checked, opened, target) == len(checked.mismatches)
        assert not {(m.repository, m.tag) for m in opened.manifests(target.registry)} & set(
            checked.wrong_tags
        )
    # the repair stops here (Ctrl-C); a plain rerun finishes it
    rerun = document(regv1(*run, "--json"))
    wrong = {f"{repository}:{tag}" for repository, tag in checked.wrong_tags}
    assert {t for t, s in _statuses(rerun).items() if s == "copied"} == wrong
    assert _sha256_of(layout.blob_path(lost)) == lost
    assert document(regv1(*run, "--verify=fast", "--json"))["mismatches"] == []


def test_a_blob_lost_by_one_repository_only_is_mounted_back_from_another(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    """Distribution forgets a base layer in one repository (its link file gone) while
    the repositories sharing it keep it: the repair mounts it back, reading nothing."""
    journal = str(tmp_path / "j.sqlite")
    dest = f"docker://{v2_fresh.host}"
    run = (
        "migrate",
        "--no-provenance",
        seeded.host,
        dest,
        "--journal",
        journal,
        "--include",
        "app0",
    )
    first = document(regv1(*run, "--json"))
    layers = _registry_layers(v2_fresh, sorted(_statuses(first)))
    holders: dict[str, set[str]] = {}
    for destination, digests in layers.items():
        for digest in digests:
            holders.setdefault(digest, set()).add(destination.rpartition(":")[0])
    base = next(digest for digest, names in sorted(holders.items()) if len(names) > 1)
    name = min(holders[base])
    needing = {t for t, digests in layers.items() if base in digests and t.startswith(f"{name}:")}
    tag = min(needing).rpartition(":")[2]
    repositories = v2_fresh.root / "storage/docker/registry/v2/repositories"
    (repositories / name / "_layers/sha256" / base[7:] / "link").unlink()

    checked = document(regv1(*run, "--verify=fast", "--json"), exit_code=2)
    assert {m["destination"] for m in checked["mismatches"]} == needing
    assert {(m["what"], m["digest"]) for m in checked["mismatches"]} == {("missing", base)}

    gets = seeded.layer_gets()
    repaired = document(regv1(*run, "--repair", "--json"))
    assert {t for t, s in _statuses(repaired).items() if s == "copied"} == needing
    assert repaired["summary"]["blobs_mounted"] == 1
    assert repaired["summary"]["images_read"] == 0
    assert seeded.layer_gets() == gets
    copied = skopeo(
        "copy",
        "--src-tls-verify=false",
        f"docker://{v2_fresh.host}/{name}:{tag}",
        f"oci:{tmp_path / 'out'}:{tag}",
    )
    assert copied.returncode == 0, copied.stderr
