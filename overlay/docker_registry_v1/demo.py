"""`make demo`: the migration job, end to end, against the bundled emulators.

A legacy Hub-style pair (index and registry on two ports, tokens enforced) receives an
image pushed from a `docker save`-style archive; the image is pulled back into an
archive that `docker load`, podman and skopeo accept, checked byte for byte, mirrored
into a second, standalone registry, and the legacy registry is inventoried, migrated
into an OCI image layout and verified. Everything runs on loopback.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from docker_registry_v1 import (
    BasicAuth,
    Client,
    Journal,
    LayoutSide,
    OCILayout,
    Selection,
    inventory,
    migrate,
    mirror,
    plan_migration,
    verify_migration,
)
from docker_registry_v1.emulator import run_hub, run_standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1.formats.archive import ChainImage, write_loadable_archive

REPOSITORY, TAG = "acme/app", "1.0"
USER, PASSWORD = "demo", "demo-password"


def build_archive(path: Path, images: Sequence[SeedImage]) -> Path:
    chain = [ChainImage(image.id, image.json_bytes, _spool(path.parent, image)) for image in images]
    write_loadable_archive(path, REPOSITORY, TAG, chain)
    return path


def _spool(folder: Path, image: SeedImage) -> Path:
    layer = folder / f"{image.id}.layer"
    layer.write_bytes(image.layer_bytes)
    return layer


def archive_matches(path: Path, images: Sequence[SeedImage]) -> bool:
    """The pulled archive holds the pushed JSON bytes exactly, and each layer's tar.

    Loadable archives store layers uncompressed, so the pushed gzip layers are
    compared after decompression.
    """
    with tarfile.open(path) as archive:
        for image in images:
            json_member = archive.extractfile(f"{image.id}/json")
            layer_member = archive.extractfile(f"{image.id}/layer.tar")
            if json_member is None or layer_member is None:
                return False
            if json_member.read() != image.json_bytes:
                return False
            if layer_member.read() != gzip.decompress(image.layer_bytes):
                return False
    return True


def skopeo_verdict(path: Path) -> str:
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        return "skopeo not installed; skipped"
    result = subprocess.run(  # noqa: S603 - fixed command on a file this demo wrote
        [skopeo, "inspect", f"docker-archive:{path}"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        return f"skopeo rejected it: {result.stderr.strip()}"
    return "skopeo inspect: accepted"


def main() -> None:
    started = time.monotonic()
    images = build_image_chain(4, seed=1, layer_size=256 * 1024)
    credentials = BasicAuth(USER, PASSWORD)
    with (
        tempfile.TemporaryDirectory(prefix="regv1-demo-") as scratch,
        run_hub(users={USER: PASSWORD}) as legacy,
        run_standalone() as target,
    ):
        work = Path(scratch)
        print(f"legacy index    {legacy.index_url}")
        print(f"legacy registry {legacy.registry_url}  (tokens enforced)")
        print(f"new registry    {target.url}")

        archive = build_archive(work / "saved.tar", images)
        print(f"\nbuilt {archive.name}: {len(images)} layers, {archive.stat().st_size} bytes")

        with Client(legacy.index_url, auth=credentials) as client:
            pushed = client.push(archive, REPOSITORY, TAG)
            print(
                f"pushed {REPOSITORY}:{TAG}: {len(pushed.pushed)} images, "
                f"{pushed.bytes_transferred} layer bytes "
                "(Basic to the index, a token to the registry)"
            )
            tags = client.repository.list_tags(
                REPOSITORY, auth=client.hub.get_read_token_with_auth(REPOSITORY, auth=credentials)
            )
            print(f"tags on the legacy registry: {dict(tags.items())}")

            pulled_path = work / "pulled.tar"
            pulled = client.pull(REPOSITORY, TAG, pulled_path)
            print(f"pulled back into {pulled_path.name}: {len(pulled.layers)} layers")
            for layer in pulled.layers:
                print(f"  {layer.image_id[:12]}  diff_id {layer.diff_id[:19]}…  {layer.size} bytes")

        same = archive_matches(pulled_path, images)
        print(f"JSON and layer bytes identical after the round trip: {'yes' if same else 'NO'}")
        print(skopeo_verdict(pulled_path))

        with (
            Client(legacy.index_url, auth=credentials) as source,
            Client(target.url) as destination,
        ):
            copied = mirror(source, REPOSITORY, destination, REPOSITORY)
            again = mirror(source, REPOSITORY, destination, REPOSITORY)
            mirrored = destination.repository.list_tags(REPOSITORY)
        print(
            f"mirrored into the new registry: {len(copied.copied)} images copied, "
            f"tags {dict(mirrored.items())}; a second run skipped {len(again.skipped)}"
        )

        with Client(legacy.index_url, auth=credentials) as source:
            found = inventory(source)
            print(
                f"inventory of the legacy registry: {found.repository_count} repository, "
                f"{found.tag_count} tag, {found.image_count} images, "
                f"{found.unique_bytes} layer bytes, {found.requests} requests, no layer read"
            )
            layout = LayoutSide(OCILayout(work / "oci"))
            with Journal(work / "journal.sqlite") as journal:
                plan = plan_migration(found, Selection(), layout, journal=journal, source=source)
                moved = migrate(source, layout, plan, journal=journal)
                checked = verify_migration(source, layout, journal)
        print(
            f"migrated into the OCI layout oci/: {len(moved.outcomes)} tag, "
            f"{moved.blobs_uploaded} blobs written; verify: {checked.checked} tag checked, "
            f"{'ok' if checked.ok else 'MISMATCH'}"
        )

        registry_auth = [
            entry.headers.get("authorization", "")
            for entry in legacy.log.entries
            if entry.role == "registry"
        ]
        basic_leaks = [value for value in registry_auth if value.startswith("Basic")]
        print(f"Basic credentials seen by the legacy registry: {len(basic_leaks)}")
    print(f"\ndone in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
