"""`regv1 migrate` into a Hub-style v1 destination: an index handing out tokens and a
registry that checks them (the emulator's hub), with a user given by --dest-creds.

In token mode the registry refuses an image JSON PUT whose image the index does not
list for the repository, so every tag's chain must be listed before its images go up,
and the final image list goes to the index with the index's own credentials.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner, Result
from docker_registry_v1.cli import main
from docker_registry_v1.emulator.server import Hub, Standalone, run_hub, run_standalone
from migrate_support import SeededRegistry, seed_registry
from regv1_runner import document

USER, PASSWORD = "alice", "s3cret"


@attrs.frozen
class HubCase:
    source: Standalone
    hub: Hub
    seed: SeededRegistry

    @property
    def source_host(self) -> str:
        return self.source.url.removeprefix("http://").rstrip("/")

    @property
    def hub_host(self) -> str:
        return self.hub.index_url.removeprefix("http://").rstrip("/")


@pytest.fixture
def case() -> Iterator[HubCase]:
    with run_standalone() as source, run_hub(users={USER: PASSWORD}) as hub:
        seed = seed_registry(source.store, repos=4, tags_per_repo=3, base_chains=2, seed=23)
        yield HubCase(source, hub, seed)


def regv1(*args: str, password: str | None = None) -> Result:
    login = [] if password is None else ["--username", USER, "--password-stdin"]
    return CliRunner().invoke(
        main,
        [*args, *login],
        input=None if password is None else password + "\n",
        catch_exceptions=False,
    )


def migrate(case: HubCase, journal: Path) -> Any:
    return document(
        regv1(
            "migrate",
            case.source_host,
            case.hub_host,
            "--dest-creds",
            f"{USER}:{PASSWORD}",
            "--journal",
            str(journal),
            "--json",
        )
    )


def chain_of(seed: SeededRegistry, repo: str) -> set[str]:
    """Every image of every tag's chain in ``repo``."""
    return {image for tip in seed.repositories[repo].values() for image in seed.chains[tip]}


def layer_bytes(archive: Path) -> dict[str, bytes]:
    """Image id → layer bytes of a ``docker load`` archive."""
    found = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.name.endswith("/layer.tar"):
                extracted = tar.extractfile(member)
                assert extracted is not None
                found[member.name.split("/")[0]] = extracted.read()
    return found


def test_migrate_into_a_hub_lists_every_chain_before_its_images_and_a_rerun_does_nothing(
    case: HubCase, tmp_path: Path
) -> None:
    seed, hub = case.seed, case.hub
    repos = list(seed.repositories)
    assert len(repos) >= 3
    assert all(len(tags) >= 2 for tags in seed.repositories.values())
    for repo in repos:  # the tags' chains differ within a repository
        assert len({seed.chains[tip] for tip in seed.repositories[repo].values()}) >= 2
    bases = [
        set(seed.chains[tip][:2]) for tags in seed.repositories.values() for tip in tags.values()
    ]
    assert any(a & b for a in bases for b in bases if a is not b)  # shared base images

    report = migrate(case, tmp_path / "j.sqlite")
    assert {tag["status"] for tag in report["tags"]} == {"copied"}
    assert len(report["tags"]) == seed.tag_count

    # The CLI reads every tag back from the hub, through the index and a read token.
    for repo in repos:
        listed = document(regv1("tags", f"{case.hub_host}/{repo}", "--json", password=PASSWORD))
        assert listed["tags"] == dict(seed.repositories[repo]), repo

    entries = hub.log.entries
    index_port = int(case.hub_host.rsplit(":", 1)[1])
    for repo in repos:
        # The index's list is the union of every tag's chain.
        stored = json.loads(hub.store.index_list(repo) or b"[]")
        assert {entry["id"] for entry in stored} >= chain_of(seed, repo)
        # Each tag: its chain listed at the index (Basic, asking for a token) before any
        # image of it is PUT to the registry; the final list last, to the index, in Basic.
        mine = [e for e in entries if f"/v1/repositories/{repo}/" in e.path and e.method == "PUT"]
        allocations = [e for e in mine if e.path == f"/v1/repositories/{repo}/"]
        assert len(allocations) == len(seed.repositories[repo])
        for allocation in allocations:
            assert allocation.status == 200
            assert allocation.port == index_port
            assert allocation.headers.get("x-docker-token") == "true"
            assert (allocation.authorization or "").startswith("Basic ")
        finals = [e for e in mine if e.path.endswith("/images")]
        assert finals
        assert all(e.status == 204 and e.port == index_port for e in finals)
        assert all((e.authorization or "").startswith("Basic ") for e in finals)
        tag_puts = [e for e in mine if "/tags/" in e.path]
        assert tag_puts
        assert max(e.started for e in tag_puts) < max(e.started for e in finals)
    # Every image JSON PUT came after an index list naming that image; none was
    # refused, and each image went up once.
    allocations = [
        e for e in entries if e.method == "PUT" and e.path.endswith("/") and e.status == 200
    ]
    for put in (e for e in entries if e.method == "PUT" and e.path.endswith("/json")):
        image = put.path.split("/")[3]
        assert put.status == 200, put
        assert any(
            a.started < put.started and image in json.dumps(json.loads(a.body or b"[]"))
            for a in allocations
        ), image
    layer_puts = [e.path.split("/")[3] for e in entries if e.method == "PUT" and "/layer" in e.path]
    assert sorted(layer_puts) == sorted(set().union(*(chain_of(seed, r) for r in repos)))

    # One tag pulled from the hub holds the source's layer bytes.
    repo = repos[-1]
    tag, tip = next(iter(seed.repositories[repo].items()))
    pulled, original = tmp_path / "hub.tar", tmp_path / "source.tar"
    done = regv1(
        "pull", f"{case.hub_host}/{repo}:{tag}", "-o", str(pulled), "--json", password=PASSWORD
    )
    assert done.exit_code == 0, done.output
    assert regv1("pull", f"{case.source_host}/{repo}:{tag}", "-o", str(original)).exit_code == 0
    from_hub = layer_bytes(pulled)
    assert set(from_hub) == set(seed.chains[tip])
    assert from_hub == layer_bytes(original)

    # A rerun finds every tag current and writes nothing.
    before = len(hub.log.entries)
    again = migrate(case, tmp_path / "j.sqlite")
    assert {tag["status"] for tag in again["tags"]} == {"current"}
    assert [e for e in hub.log.entries[before:] if e.method in {"PUT", "POST", "DELETE"}] == []
