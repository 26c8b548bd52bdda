"""An OCI layout's ``index.json`` (``oci:DIR``) holding anything, and manifests of any shape.

The directory may be shared or planted, so its ``index.json`` is input like any other:
whatever it holds, opening the layout, listing its tags and adding a tagged manifest
either work or raise `LayoutError` (the layout cannot be used) or `InvalidInput` (the
manifest given is not one), never RecursionError, AttributeError or TypeError. When
they work, the new tag names the new manifest and the index stays an index.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from docker_registry_v1 import InvalidInput
from docker_registry_v1.formats.errors import LayoutError
from docker_registry_v1.formats.layout import REF_NAME, OCILayout
from hypothesis import example, given
from hypothesis import strategies as st
from property_support import budget, hostile_json_text, json_bytes, json_values, nested

_CONFIG = b'{"architecture":"amd64","os":"linux"}'
_MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def _genuine_index(config_digest: str) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": _MANIFEST_TYPE,
                "digest": config_digest,
                "size": len(_CONFIG),
                "annotations": {REF_NAME: "old"},
            }
        ],
    }


def _change(document: Any, path: list[int], value: Any) -> Any:
    """``document`` with the value found by following ``path`` replaced by ``value``."""
    if not path or not isinstance(document, dict | list) or not document:
        return value
    if isinstance(document, dict):
        key = sorted(document)[path[0] % len(document)]
        return {**document, key: _change(document[key], path[1:], value)}
    items = list(document)
    items[path[0] % len(items)] = _change(items[path[0] % len(items)], path[1:], value)
    return items


_index_changes = (
    st.none() | hostile_json_text | st.tuples(st.lists(st.integers(0, 9), max_size=4), json_values)
)
_manifests = st.none() | hostile_json_text | json_values.map(json_bytes)


@budget(60)
@given(index=_index_changes, manifest=_manifests)
@example(index=None, manifest=None)  # the genuine layout: the new tag is added
@example(index=nested(100_000, "list"), manifest=None)
@example(index=([1, 0], 7), manifest=None)  # an index entry that is a number
@example(index=([1, 0, 0], [1]), manifest=None)  # annotations that are a list
@example(index=None, manifest=b'{"mediaType": "x", "layers": 5}')
@example(index=None, manifest=nested(100_000, "object"))
def test_any_layout_index_and_manifest(index: Any, manifest: bytes | None) -> None:
    with tempfile.TemporaryDirectory(prefix="regv1-props-layout-") as folder:
        root = Path(folder)
        layout = OCILayout(root)
        config = layout.write_blob([_CONFIG])
        genuine = _genuine_index(config.digest)
        if index is None:
            written = json_bytes(genuine)
        elif isinstance(index, bytes):
            written = index
        else:
            written = json_bytes(_change(genuine, *index))
        (root / "index.json").write_bytes(written)
        data = manifest
        if data is None:
            document = {
                "schemaVersion": 2,
                "mediaType": _MANIFEST_TYPE,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config.digest,
                    "size": config.size,
                },
                "layers": [],
            }
            data = json_bytes(document)
        try:
            reopened = OCILayout(root)
            refs = reopened.refs()
            descriptor = reopened.add_manifest(data, ref="new")
        except (LayoutError, InvalidInput):
            if index is None and manifest is None:
                raise
            return
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in refs.items())
        assert reopened.refs()["new"] == descriptor.digest
        stored = json.loads((root / "index.json").read_bytes())
        assert stored["manifests"][-1]["digest"] == descriptor.digest
