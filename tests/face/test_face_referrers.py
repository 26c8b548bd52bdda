"""The face finds provenance through the OCI 1.1 referrers API too (go-containerregistry's
registry, which lists referrers and gets no fallback tag), not only through the fallback
tag Debian's distribution 2.8 needs."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from docker_registry_v1.emulator import Standalone, run_standalone
from docker_registry_v1.face import RegistryBackend, V2Face
from docker_registry_v1.oci.client import OCIClient
from face_support import World, migrate
from v2.referrers_server import referrers_registry


@pytest.fixture(scope="module")
def referrers_face(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    with referrers_registry() as url:
        host = url.removeprefix("http://")
        migrate(world.emulator.url, f"docker://{host}", tmp_path_factory.mktemp("j") / "journal")
        with OCIClient(url) as client:
            tags = list(client.tags("team/app"))
            assert not [t for t in tags if t.startswith("sha256-")]  # no fallback tag
            storage = V2Face(RegistryBackend(client, url))
            with run_standalone(storage=storage) as face:
                yield face
            storage.close()


def test_provenance_through_the_referrers_api(world: World, referrers_face: Standalone) -> None:
    for repository, tags in world.seed.items():
        answer = httpx.get(f"{referrers_face.url}/v1/repositories/{repository}/tags")
        assert answer.json() == {tag: chain[-1].id for tag, chain in tags.items()}
    for image_id, image in world.images.items():
        json_answer = httpx.get(f"{referrers_face.url}/v1/images/{image_id}/json")
        assert json_answer.content == image.json_bytes
        assert json_answer.headers["X-Docker-Checksum-Payload"] == image.checksum
        layer = httpx.get(f"{referrers_face.url}/v1/images/{image_id}/layer")
        assert layer.content == image.layer_bytes
