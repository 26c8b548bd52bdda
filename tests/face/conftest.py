"""One migrated world per test module: a seeded v1 emulator, its migration into Debian's
distribution (with provenance) and into an OCI layout, an image pushed straight to the
v2 registry, and the read-only v1 face over each. Not longer-lived: an emulator left
running would trip the tests that check none is left (tests/emulator/test_stop.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from direct_body import SMALL_DIRECT_BODY
from docker_registry_v1.core import http as core_http
from docker_registry_v1.emulator import run_standalone
from docker_registry_v1.face import LayoutBackend, RegistryBackend, V2Face
from docker_registry_v1.formats.layout import OCILayout
from docker_registry_v1.oci.client import OCIClient
from face_support import World, migrate, push_direct, seed_emulator
from v2.v2registry import run_registry


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("face")
    with (
        # the big/* layers (3 MiB) take the direct body path, as 32 MiB ones do in use
        pytest.MonkeyPatch.context() as patch,
        run_standalone() as emulator,
        run_registry("none", root / "v2") as v2,
    ):
        patch.setattr(core_http, "DIRECT_BODY", SMALL_DIRECT_BODY)
        seed = seed_emulator(emulator)
        migrate(emulator.url, f"docker://{v2.host}", root / "journal")
        migrate(emulator.url, f"oci:{root / 'layout'}", root / "journal-layout")
        direct_layer = push_direct(v2.url)
        client = OCIClient(v2.url)
        layout = OCILayout(root / "layout")
        over_registry = V2Face(RegistryBackend(client, f"docker://{v2.host}"))
        over_layout = V2Face(LayoutBackend(layout, f"oci:{root / 'layout'}"))
        with (
            run_standalone(storage=over_registry) as face,
            run_standalone(storage=over_layout) as layout_face,
        ):
            yield World(emulator, v2, face, layout_face, seed, direct_layer)
        over_registry.close()
        over_layout.close()
        client.close()
        layout.close()
