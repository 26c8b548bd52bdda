"""The generated client (docker_registry_v1_api) talking to the emulator."""

from __future__ import annotations

from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import build_image_chain
from docker_registry_v1_api import Client
from docker_registry_v1_api.api.registry import get_image_ancestry, get_image_id, list_tags
from docker_registry_v1_api.models import TagMap


def test_generated_client_reads_seeded_repository(standalone: Standalone) -> None:
    chain = build_image_chain(3)
    standalone.store.seed("ns/app", "latest", chain)
    with Client(base_url=standalone.url) as client:
        tags = list_tags.sync_detailed("ns", "app", client=client)
        assert tags.status_code == 200
        assert isinstance(tags.parsed, TagMap)
        assert tags.parsed.additional_properties == {"latest": chain[-1].id}
        assert (
            get_image_id.sync_detailed("ns", "app", "latest", client=client).parsed == chain[-1].id
        )
        ancestry = get_image_ancestry.sync_detailed(chain[-1].id, client=client)
        assert ancestry.parsed == [image.id for image in reversed(chain)]
        missing = list_tags.sync_detailed("ns", "nothing", client=client)
        assert missing.status_code == 404
