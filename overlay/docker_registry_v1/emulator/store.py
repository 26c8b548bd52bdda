"""The emulator's state: images with their upload state machine, repositories, users.

One lock guards everything, so the index and registry listeners of a hub (and
tests seeding from their own thread) always see a consistent store. In
directory mode every change is written through atomically and reloaded on the
next start; tokens are deliberately not persisted (a restart revokes them).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import shutil
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import attrs

from .blobs import Blob, FileBlob, FileWriter, LayerWriter, SpoolWriter, atomic_write

if TYPE_CHECKING:
    from .seed import SeedImage

STATE_FILE = "state.json"

#: Metadata the reference server answers for a tag or repository never written.
DEFAULT_METADATA: Mapping[str, Any] = {
    "arch": "amd64",
    "docker_go_version": None,
    "docker_version": None,
    "kernel": None,
    "last_update": None,
    "os": "linux",
}


class Outcome(enum.Enum):
    """Results of store operations that the HTTP layer maps to statuses."""

    OK = "ok"
    NOT_FOUND = "not_found"
    COMPLETE = "complete"
    PARENT_MISSING = "parent_missing"
    NO_LAYER = "no_layer"
    MISMATCH = "mismatch"


class Breakage(enum.Enum):
    """Broken states a long-running reference registry 0.9.1 holds in its storage.

    Each is a state of the files REF keeps per image (``json``, ``layer``,
    ``ancestry``, ``_checksum``, the ``_inprogress`` mark), left behind by pushes
    that died, disks that filled, and clean-up scripts; the emulator then answers
    exactly as REF does from such storage (see ``Store.break_image``).
    """

    #: A push died after ``PUT json``: layer and checksum never finished, the mark stays.
    #: Every read answers ``400 Image is being uploaded, retry later``, forever.
    IN_PROGRESS = "in-progress"
    #: The ``json`` file is gone: json ``404 Image not found``; ancestry and layer still 200.
    MISSING_JSON = "missing-json"
    #: The ``layer`` file is gone: layer ``404 Image not found``; json 200 without
    #: ``X-Docker-Size``.
    MISSING_LAYER = "missing-layer"
    #: The ``ancestry`` file is gone: ancestry ``404 Image not found``; json and layer 200.
    MISSING_ANCESTRY = "missing-ancestry"
    #: The ``json`` file holds invalid JSON (a truncated write); served as is with 200.
    CORRUPT_JSON = "corrupt-json"
    #: The stored payload checksum does not match ``json + "\n" + layer`` any more.
    CHECKSUM_MISMATCH = "checksum-mismatch"
    #: Every file of the image is gone; tags naming it dangle, its children lose their parent.
    GONE = "gone"
    #: The image's parent is gone (:attr:`GONE`): the image's ancestry still lists it.
    PARENT_GONE = "parent-gone"


@attrs.define
class StoredImage:
    json_bytes: bytes
    parent: str | None
    ancestry: list[str]
    checksum: str | None = None
    layer_size: int | None = None
    complete: bool = False
    #: The json file is gone from storage (``Breakage.MISSING_JSON``).
    missing_json: bool = False
    #: The ancestry file is gone from storage (``Breakage.MISSING_ANCESTRY``).
    missing_ancestry: bool = False


@attrs.define
class RepositoryRecord:
    tags: dict[str, str] = attrs.Factory(dict)
    #: Tags whose file holds bytes that are not an id (REF's tag reads then fail with 500).
    unreadable_tags: list[str] = attrs.Factory(list)
    tag_meta: dict[str, dict[str, Any]] = attrs.Factory(dict)
    meta: dict[str, Any] | None = None
    index_list: bytes | None = None
    searchable: bool = False
    access: str = "public"


def _password_digest(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


@attrs.define(repr=False)
class UserRecord:
    digest: str
    email: str

    def __repr__(self) -> str:
        return f"UserRecord(email={self.email!r})"


def split_repository(path_part: str) -> str:
    """``ns/repo`` as the reference server reads it: one trailing ``/`` stripped,
    split at the first ``/``, a single segment meaning ``library``; URL-quoted
    (as the reference server stores it), so names are always header-safe."""
    name = quote(path_part[:-1] if path_part.endswith("/") else path_part, safe="/")
    namespace, sep, repository = name.partition("/")
    return f"{namespace}/{repository}" if sep else f"library/{namespace}"


def merge_index_list(stored: bytes | None, new_entries: list[dict[str, Any]]) -> bytes:
    """The reference server's merge: by id, reduced to id + checksum, a known checksum kept."""
    old: list[dict[str, Any]] = json.loads(stored) if stored else []
    merged: dict[str, dict[str, Any]] = {}
    for entry in [*new_entries, *old]:
        image_id = str(entry["id"])
        if image_id in merged and "checksum" in merged[image_id]:
            continue
        reduced = {"id": image_id}
        if "checksum" in entry:
            reduced["checksum"] = entry["checksum"]
        merged[image_id] = reduced
    return json.dumps(list(merged.values()), sort_keys=True).encode()


class Store:
    """Thread-safe state of one emulator, in memory or in ``data_dir``.

    It is the emulator's `storage.V1Storage`: writable, and quick enough (in memory, one
    lock) for the routes to call it on the event loop.
    """

    read_only: bool = False
    blocking: bool = False

    def __init__(self, data_dir: Path | str | None = None) -> None:
        self._lock = threading.RLock()
        self._dir = Path(data_dir) if data_dir is not None else None
        self._images: dict[str, StoredImage] = {}
        self._layers: dict[str, Blob] = {}
        self._repos: dict[str, RepositoryRecord] = {}
        self._users: dict[str, UserRecord] = {}
        self._files_cache: dict[str, bytes] = {}
        if self._dir is not None:
            self._dir.mkdir(parents=True, exist_ok=True)
            self._load()

    # -- persistence -------------------------------------------------------------

    def _image_dir(self, image_id: str) -> Path:
        assert self._dir is not None
        return self._dir / "images" / image_id

    def _load(self) -> None:
        assert self._dir is not None
        state_path = self._dir / STATE_FILE
        if not state_path.exists():
            return
        state = json.loads(state_path.read_bytes())
        for image_id, info in state["images"].items():
            folder = self._image_dir(image_id)
            missing_json = info.get("missing_json", False)
            self._images[image_id] = StoredImage(
                json_bytes=b"" if missing_json else (folder / "json").read_bytes(),
                parent=info["parent"],
                ancestry=info["ancestry"],
                checksum=info["checksum"],
                layer_size=info["layer_size"],
                complete=info["complete"],
                missing_json=missing_json,
                missing_ancestry=info.get("missing_ancestry", False),
            )
            if info["layer_size"] is not None:
                self._layers[image_id] = FileBlob(folder / "layer", info["layer_size"])
        for name, info in state["repositories"].items():
            raw_list = info.pop("index_list")
            self._repos[name] = RepositoryRecord(
                **info, index_list=raw_list.encode() if raw_list is not None else None
            )
        for name, info in state["users"].items():
            self._users[name] = UserRecord(**info)

    def _save(self) -> None:
        if self._dir is None:
            return
        state = {
            "images": {
                image_id: {
                    "parent": rec.parent,
                    "ancestry": rec.ancestry,
                    "checksum": rec.checksum,
                    "layer_size": rec.layer_size,
                    "complete": rec.complete,
                    "missing_json": rec.missing_json,
                    "missing_ancestry": rec.missing_ancestry,
                }
                for image_id, rec in self._images.items()
            },
            "repositories": {
                name: {
                    **attrs.asdict(rec, filter=lambda a, _: a.name != "index_list"),
                    "index_list": rec.index_list.decode() if rec.index_list is not None else None,
                }
                for name, rec in self._repos.items()
            },
            "users": {name: attrs.asdict(rec) for name, rec in self._users.items()},
        }
        atomic_write(self._dir / STATE_FILE, json.dumps(state, sort_keys=True).encode())

    # -- images --------------------------------------------------------------------

    def image(self, image_id: str) -> StoredImage | None:
        """A copy of the image's record, safe to change without the lock; ``None`` if unknown."""
        with self._lock:
            rec = self._images.get(image_id)
            return attrs.evolve(rec) if rec is not None else None

    def _has_json(self, image_id: str) -> bool:
        rec = self._images.get(image_id)
        return rec is not None and not rec.missing_json

    def put_image_json(self, image_id: str, raw: bytes, parent: str | None) -> Outcome:
        """Store the JSON (new upload or retry); checksum and layer must be sent again.

        As REF, an image whose json file is gone counts as absent: it may be pushed again.
        """
        with self._lock:
            if parent and not self._has_json(parent):
                return Outcome.PARENT_MISSING
            existing = self._images.get(image_id)
            if existing is not None and existing.complete and not existing.missing_json:
                return Outcome.COMPLETE
            ancestry = [image_id, *(self._images[parent].ancestry if parent else [])]
            if self._dir is not None:
                atomic_write(self._image_dir(image_id) / "json", raw)
            self._images[image_id] = StoredImage(
                json_bytes=raw, parent=parent or None, ancestry=ancestry
            )
            self._layers.pop(image_id, None)
            self._files_cache.pop(image_id, None)
            self._save()
            return Outcome.OK

    def layer_writer(self, image_id: str) -> tuple[Outcome, LayerWriter | None, bytes]:
        """A writer for a layer upload plus the JSON bytes the payload hash starts with."""
        with self._lock:
            rec = self._images.get(image_id)
            if rec is None or rec.missing_json:
                return Outcome.NOT_FOUND, None, b""
            if rec.complete:
                return Outcome.COMPLETE, None, b""
            writer: LayerWriter
            if self._dir is not None:
                writer = FileWriter(self._image_dir(image_id) / "layer")
            else:
                writer = SpoolWriter()
            return Outcome.OK, writer, rec.json_bytes

    def finish_layer(self, image_id: str, writer: LayerWriter, checksum: str) -> Outcome:
        """Keep the layer and its checksum; dropped when the image is unknown or complete."""
        with self._lock:
            rec = self._images.get(image_id)
            if rec is None or rec.complete:
                writer.discard()
                return Outcome.NOT_FOUND if rec is None else Outcome.COMPLETE
            blob = writer.finish()
            self._layers[image_id] = blob
            rec.layer_size = blob.size
            rec.checksum = checksum
            self._files_cache.pop(image_id, None)
            self._save()
            return Outcome.OK

    def put_checksum(self, image_id: str, value: str) -> Outcome:
        """Mark the image complete if ``value`` matches its layer's checksum, else say why not."""
        with self._lock:
            rec = self._images.get(image_id)
            if rec is None or rec.missing_json:
                return Outcome.NOT_FOUND
            if rec.complete:
                return Outcome.COMPLETE
            if rec.checksum is None:
                return Outcome.NO_LAYER
            if not hmac.compare_digest(rec.checksum, value):
                return Outcome.MISMATCH
            rec.complete = True
            self._save()
            return Outcome.OK

    def layer(self, image_id: str) -> Blob | None:
        """The stored layer blob of ``image_id``, ``None`` until a layer was uploaded."""
        with self._lock:
            return self._layers.get(image_id)

    def cached_files(self, image_id: str) -> bytes | None:
        """The image's file listing computed earlier, ``None`` until cached or after a new layer."""
        with self._lock:
            return self._files_cache.get(image_id)

    def cache_files(self, image_id: str, listing: bytes) -> None:
        """Keep the file listing of ``image_id`` so the next request need not read the layer."""
        with self._lock:
            self._files_cache[image_id] = listing

    # -- broken states ---------------------------------------------------------------

    def _drop_layer(self, image_id: str) -> None:
        self._layers.pop(image_id, None)
        self._files_cache.pop(image_id, None)
        if self._dir is not None:
            (self._image_dir(image_id) / "layer").unlink(missing_ok=True)

    def _remove_image(self, image_id: str) -> None:
        self._images.pop(image_id, None)
        self._layers.pop(image_id, None)
        self._files_cache.pop(image_id, None)
        if self._dir is not None:
            shutil.rmtree(self._image_dir(image_id), ignore_errors=True)

    def break_image(self, image_id: str, kind: Breakage) -> None:
        """Leave ``image_id`` in the broken state ``kind`` (see :class:`Breakage`).

        The state is data, not a per-request fault: it is persisted in directory mode
        and answered the same way until the image is pushed again or the store is
        changed. Raises ``ValueError`` for an unknown image, or ``PARENT_GONE`` on an
        image without a parent.
        """
        with self._lock:
            rec = self._images.get(image_id)
            if rec is None:
                raise ValueError(f"no image {image_id} in the store")
            if kind is Breakage.PARENT_GONE:
                if rec.parent is None:
                    raise ValueError(f"image {image_id} has no parent")
                self._remove_image(rec.parent)
            elif kind is Breakage.GONE:
                self._remove_image(image_id)
            elif kind is Breakage.IN_PROGRESS:
                rec.complete = False
                rec.checksum = None
                rec.layer_size = None
                self._drop_layer(image_id)
            elif kind is Breakage.MISSING_LAYER:
                rec.layer_size = None
                self._drop_layer(image_id)
            elif kind is Breakage.MISSING_JSON:
                rec.missing_json = True
                rec.json_bytes = b""
                if self._dir is not None:
                    (self._image_dir(image_id) / "json").unlink(missing_ok=True)
            elif kind is Breakage.MISSING_ANCESTRY:
                rec.missing_ancestry = True
            elif kind is Breakage.CORRUPT_JSON:
                # A write cut short: half the document, never valid JSON (an object unclosed).
                rec.json_bytes = rec.json_bytes[: len(rec.json_bytes) // 2] or b"{"
                rec.missing_json = False
                if self._dir is not None:
                    atomic_write(self._image_dir(image_id) / "json", rec.json_bytes)
            else:
                previous = (rec.checksum or "").encode()
                digest = hashlib.sha256(b"regv1 emulator, not this layer:" + previous)
                rec.checksum = "sha256:" + digest.hexdigest()
            self._save()

    def force_tag(self, name: str, tag: str, image_id: str) -> None:
        """Write the tag file directly, as REF's storage may hold it: ``image_id`` need not
        exist (a tag left behind when its image was removed)."""
        with self._lock:
            rec = self._repo(name)
            rec.tags[tag] = image_id
            rec.tag_meta[tag] = {"last_update": int(time.time())}
            if tag in rec.unreadable_tags:
                rec.unreadable_tags.remove(tag)
            self._save()

    def corrupt_tag(self, name: str, tag: str) -> None:
        """Make ``tag``'s file hold bytes that are not an id (not even text).

        REF 0.9.1 (Python 2) then fails to encode the tag's content as JSON: its tag
        list and that tag's GET answer an HTML 500; other tags still answer one by one.
        """
        with self._lock:
            rec = self._repo(name)
            rec.tags.pop(tag, None)
            if tag not in rec.unreadable_tags:
                rec.unreadable_tags.append(tag)
            self._save()

    def unreadable_tags(self, name: str) -> list[str]:
        """The tags of ``name`` whose file :meth:`corrupt_tag` spoilt."""
        with self._lock:
            rec = self._repos.get(name)
            return list(rec.unreadable_tags) if rec is not None else []

    # -- repositories --------------------------------------------------------------

    def _repo(self, name: str) -> RepositoryRecord:
        rec = self._repos.get(name)
        if rec is None:
            rec = self._repos[name] = RepositoryRecord()
        return rec

    def repository_exists(self, name: str) -> bool:
        """Whether anything (a tag, an image list, an access setting) created the repository."""
        with self._lock:
            return name in self._repos

    def tags(self, name: str) -> dict[str, str] | None:
        """Tag → image id, sorted by tag; ``None`` when the repository does not exist."""
        with self._lock:
            rec = self._repos.get(name)
            return dict(sorted(rec.tags.items())) if rec is not None else None

    def set_tag(self, name: str, tag: str, image_id: str, meta: dict[str, Any]) -> bool:
        """Point ``tag`` at ``image_id``; ``False`` when the image JSON does not exist."""
        with self._lock:
            if not self._has_json(image_id):
                return False
            rec = self._repo(name)
            rec.tags[tag] = image_id
            if tag in rec.unreadable_tags:
                rec.unreadable_tags.remove(tag)
            rec.tag_meta[tag] = meta
            if tag == "latest":
                rec.meta = dict(meta)
            self._save()
            return True

    def delete_tag(self, name: str, tag: str) -> bool:
        """Remove ``tag`` (``False`` if absent); removing ``latest`` clears repository metadata."""
        with self._lock:
            rec = self._repos.get(name)
            if rec is None or (tag not in rec.tags and tag not in rec.unreadable_tags):
                return False
            rec.tags.pop(tag, None)
            if tag in rec.unreadable_tags:
                rec.unreadable_tags.remove(tag)
            rec.tag_meta.pop(tag, None)
            if tag == "latest":
                rec.meta = None
            self._save()
            return True

    def tag_metadata(self, name: str, tag: str) -> dict[str, Any]:
        """A copy of the metadata sent with ``tag``, the default metadata when there is none."""
        with self._lock:
            rec = self._repos.get(name)
            meta = rec.tag_meta.get(tag) if rec is not None else None
            return dict(meta) if meta is not None else dict(DEFAULT_METADATA)

    def repository_metadata(self, name: str) -> dict[str, Any]:
        """A copy of the repository's metadata, the default metadata when there is none."""
        with self._lock:
            rec = self._repos.get(name)
            meta = rec.meta if rec is not None else None
            return dict(meta) if meta is not None else dict(DEFAULT_METADATA)

    def access(self, name: str) -> str:
        """``"public"`` or ``"private"``; an unknown repository is public."""
        with self._lock:
            rec = self._repos.get(name)
            return rec.access if rec is not None else "public"

    def is_private(self, name: str) -> bool:
        """Whether only authenticated users may read the repository."""
        return self.access(name) == "private"

    def set_access(self, name: str, access: str) -> None:
        """Set the access (``"public"`` or ``"private"``), creating the repository if needed."""
        with self._lock:
            self._repo(name).access = access
            self._save()

    def delete_repository(self, name: str) -> bool:
        """Drop tags, image list, metadata and search entry; image data stays."""
        with self._lock:
            if self._repos.pop(name, None) is None:
                return False
            self._save()
            return True

    def index_list(self, name: str) -> bytes | None:
        """The repository's image list as stored (raw JSON bytes); ``None`` when none was sent."""
        with self._lock:
            rec = self._repos.get(name)
            return rec.index_list if rec is not None else None

    def put_index_list(
        self, name: str, raw: bytes, entries: list[dict[str, Any]], *, create: bool
    ) -> None:
        """First list stored verbatim, later ones merged; ``create`` also indexes for search."""
        with self._lock:
            rec = self._repo(name)
            rec.index_list = (
                raw if rec.index_list is None else merge_index_list(rec.index_list, entries)
            )
            if create:
                rec.searchable = True
            self._save()

    def repository_images(self, name: str) -> set[str]:
        """Ids a token for ``name`` may read: the index list plus every tag's ancestry."""
        with self._lock:
            rec = self._repos.get(name)
            if rec is None:
                return set()
            ids: set[str] = set()
            if rec.index_list is not None:
                try:
                    listed = json.loads(rec.index_list)
                except ValueError:
                    listed = []
                ids.update(str(e["id"]) for e in listed if isinstance(e, dict) and "id" in e)
            for image_id in rec.tags.values():
                image = self._images.get(image_id)
                ids.update(image.ancestry if image is not None else [image_id])
            return ids

    def image_access(self, name: str, image_id: str) -> bool:
        """Whether ``name`` may use ``image_id``: one of its own, or of a public repository."""
        with self._lock:
            if image_id in self.repository_images(name):
                return True
            return any(
                rec.access != "private" and image_id in self.repository_images(other)
                for other, rec in self._repos.items()
            )

    def search(self, query: str, *, include_private: bool) -> list[str]:
        """Names of searchable repositories containing ``query`` (case-insensitive), sorted."""
        needle = query.lower()
        with self._lock:
            return sorted(
                name
                for name, rec in self._repos.items()
                if rec.searchable
                and needle in name.lower()
                and (include_private or rec.access != "private")
            )

    # -- users ---------------------------------------------------------------------

    def add_user(self, username: str, password: str, email: str = "") -> bool:
        """``False`` when the name is taken."""
        with self._lock:
            if username in self._users:
                return False
            self._users[username] = UserRecord(_password_digest(password), email)
            self._save()
            return True

    def ensure_users(self, users: Mapping[str, str]) -> None:
        """Install configured users, resetting their passwords to the configured ones."""
        with self._lock:
            for name, password in users.items():
                email = self._users[name].email if name in self._users else ""
                self._users[name] = UserRecord(_password_digest(password), email)
            self._save()

    def user_exists(self, username: str) -> bool:
        """Whether an account named ``username`` exists."""
        with self._lock:
            return username in self._users

    def check_user(self, username: str, password: str) -> bool:
        """Whether ``password`` is right for ``username`` (constant time); ``False`` if unknown."""
        with self._lock:
            rec = self._users.get(username)
            return rec is not None and hmac.compare_digest(rec.digest, _password_digest(password))

    def update_user(self, username: str, *, password: str | None, email: str | None) -> None:
        """Change the given fields of an account; raises ``KeyError`` if ``username`` is unknown."""
        with self._lock:
            rec = self._users[username]
            if password is not None:
                rec.digest = _password_digest(password)
            if email is not None:
                rec.email = email
            self._save()

    # -- seeding -------------------------------------------------------------------

    def seed_bulk(
        self, images: Iterable[SeedImage], repositories: Mapping[str, RepositoryRecord]
    ) -> None:
        """Store ``images`` (each after its parent) complete and put ``repositories`` in
        place as given, then save the state once.

        :meth:`seed` goes through the upload state machine and saves the whole state after
        every step, which is quadratic in the store's size; a registry of thousands of
        repositories (the scale seed) is written here in one pass instead. The image files
        are plain writes: a crash while seeding leaves a store to seed again, not one to
        keep.
        """
        with self._lock:
            for image in images:
                if image.parent is not None and image.parent not in self._images:
                    raise ValueError(f"parent of {image.id} is not stored")
                ancestry = [
                    image.id,
                    *(self._images[image.parent].ancestry if image.parent else []),
                ]
                blob: Blob
                if self._dir is not None:
                    folder = self._image_dir(image.id)
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / "json").write_bytes(image.json_bytes)
                    (folder / "layer").write_bytes(image.layer_bytes)
                    blob = FileBlob(folder / "layer", len(image.layer_bytes))
                else:
                    writer = SpoolWriter()
                    writer.write(image.layer_bytes)
                    blob = writer.finish()
                self._images[image.id] = StoredImage(
                    json_bytes=image.json_bytes,
                    parent=image.parent,
                    ancestry=ancestry,
                    checksum=image.checksum,
                    layer_size=len(image.layer_bytes),
                    complete=True,
                )
                self._layers[image.id] = blob
                self._files_cache.pop(image.id, None)
            self._repos.update(repositories)
            self._save()

    def seed(self, repository: str, tag: str | None, images: Iterable[SeedImage]) -> None:
        """Store ``images`` (base first) complete, tag the last one and index the repository."""
        name = split_repository(repository)
        chain = list(images)
        with self._lock:
            for image in chain:
                if (
                    self.put_image_json(image.id, image.json_bytes, image.parent)
                    is Outcome.PARENT_MISSING
                ):
                    raise ValueError(f"parent of {image.id} is not stored")
                outcome, writer, _ = self.layer_writer(image.id)
                if writer is None:
                    if outcome is Outcome.COMPLETE:
                        continue
                    raise ValueError(f"cannot store the layer of {image.id}")
                writer.write(image.layer_bytes)
                self.finish_layer(image.id, writer, image.checksum)
                self.put_checksum(image.id, image.checksum)
            entries = [{"id": image.id, "checksum": image.checksum} for image in chain]
            raw = json.dumps(entries, sort_keys=True).encode()
            self.put_index_list(name, raw, entries, create=True)
            if tag is not None and chain:
                self.set_tag(name, tag, chain[-1].id, {"last_update": int(time.time())})
