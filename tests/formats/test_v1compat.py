"""docker's v1-compatibility ids for images without v1 provenance (formats/v1compat.py).

The expected ids are derived here from the documented scheme, written out as the bytes
docker's ``CreateID`` hashes, not by calling the code under test; the pinned hex values
then guard against drift.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from docker_registry_v1.formats.v1compat import CONFIG_LIMIT, V1CompatError, synthesize
from hypothesis import given, settings
from hypothesis import strategies as st


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(seed: str) -> str:
    return "sha256:" + sha(seed.encode())


ZERO = (
    b'{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,'
    b'"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,'
    b'"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,'
    b'"OnBuild":null,"Labels":null}'
)
"""Go's zero ``container.Config``, as every docker release since 1.10 writes it."""

DIFF_IDS = [digest("layer-0"), digest("layer-1"), digest("layer-2")]
LAYERS = [(digest("blob-0"), 100), (digest("blob-1"), 2000), (digest("blob-2"), 30)]

# A config as the classic docker builder (18.06) writes it: struct order, container_config
# of the last step, an empty_layer CMD step between the layers. Extras docker drops:
# "parent" (the builder's local id), an unknown key. Text that Go escapes or keeps raw.
DOCKER_CONFIG = (
    '{"architecture":"amd64",'
    '"author":"Zo\\u00eb <ops@example.com>",'
    '"config":{"Hostname":"","Domainname":"","User":"app","AttachStdin":false,'
    '"AttachStdout":false,"AttachStderr":false,"ExposedPorts":{"8080/tcp":{}},"Tty":false,'
    '"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/bin:/bin","A=x&y"],"Cmd":["run"],'
    '"ArgsEscaped":true,"Image":"sha256:' + "e" * 64 + '","Volumes":null,"WorkingDir":"/srv",'
    '"Entrypoint":null,"OnBuild":null,"Labels":{"b":"2","a":"<1>"}},'
    '"container":"' + "c" * 64 + '",'
    '"container_config":{"Hostname":"' + "c" * 12 + '","Domainname":"","User":"app",'
    '"AttachStdin":false,"AttachStdout":false,"AttachStderr":false,'
    '"ExposedPorts":{"8080/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,'
    '"Env":["PATH=/usr/bin:/bin","A=x&y"],"Cmd":["/bin/sh","-c","#(nop) ","CMD [\\"run\\"]"],'
    '"ArgsEscaped":true,"Image":"sha256:' + "e" * 64 + '","Volumes":null,"WorkingDir":"/srv",'
    '"Entrypoint":null,"OnBuild":null,"Labels":{"b":"2","a":"<1>"}},'
    '"created":"2019-12-26T22:20:24.080353600Z",'
    '"docker_version":"18.06.1-ce",'
    '"history":['
    '{"created":"2019-12-26T22:20:20Z","created_by":"/bin/sh -c #(nop) ADD file:1 in / "},'
    '{"created":"2019-12-26T22:20:21Z","created_by":"/bin/sh -c #(nop)  ENV A=x&y",'
    '"empty_layer":true},'
    '{"created":"2019-12-26T22:20:22Z","created_by":"/bin/sh -c make"},'
    '{"created":"2019-12-26T22:20:23Z","created_by":"/bin/sh -c make install"},'
    '{"created":"2019-12-26T22:20:24.0803536Z","created_by":"/bin/sh -c #(nop)  CMD [\\"run\\"]",'
    '"empty_layer":true}],'
    '"os":"linux",'
    '"parent":"sha256:' + "f" * 64 + '",'
    '"rootfs":{"type":"layers","diff_ids":' + json.dumps(DIFF_IDS) + "},"
    '"unknown":1}'
).encode()

# Go escapes <, > and & and keeps non-ASCII as UTF-8; maps come out sorted.
CONFIG_OUT = (
    b'{"Hostname":"","Domainname":"","User":"app","AttachStdin":false,"AttachStdout":false,'
    b'"AttachStderr":false,"ExposedPorts":{"8080/tcp":{}},"Tty":false,"OpenStdin":false,'
    b'"StdinOnce":false,"Env":["PATH=/usr/bin:/bin","A=x\\u0026y"],"Cmd":["run"],'
    b'"ArgsEscaped":true,"Image":"sha256:' + b"e" * 64 + b'","Volumes":null,'
    b'"WorkingDir":"/srv","Entrypoint":null,"OnBuild":null,'
    b'"Labels":{"a":"\\u003c1\\u003e","b":"2"}}'
)
CONTAINER_CONFIG_OUT = CONFIG_OUT.replace(
    b'"Hostname":""', b'"Hostname":"' + b"c" * 12 + b'"'
).replace(b'"Cmd":["run"]', b'"Cmd":["/bin/sh","-c","#(nop) ","CMD [\\"run\\"]"]')
AUTHOR_OUT = "Zoë \\u003cops@example.com\\u003e".encode()


def chain_ids(diff_ids: list[str]) -> list[str]:
    chain = [diff_ids[0]]
    for diff_id in diff_ids[1:]:
        chain.append("sha256:" + sha(f"{chain[-1]} {diff_id}".encode()))
    return chain


def below_top_id(layer_id: str, parent: str | None) -> str:
    """Every image under the top: only ``created`` = the epoch (and Go's zero
    container_config), keys sorted."""
    text = b'{"container_config":' + ZERO + b',"created":"1970-01-01T00:00:00Z","layer_id":"'
    text += layer_id.encode() + b'"'
    if parent is not None:
        text += b',"parent":"sha256:' + parent.encode() + b'"'
    return sha(text + b"}")


def test_a_docker_built_config_gets_the_ids_the_documented_scheme_gives() -> None:
    chain = chain_ids(DIFF_IDS)
    base = below_top_id(chain[0], None)
    middle = below_top_id(chain[1], base)
    top = sha(
        b'{"architecture":"amd64","author":"'
        + AUTHOR_OUT
        + b'","config":'
        + CONFIG_OUT
        + b',"container":"'
        + b"c" * 64
        + b'","container_config":'
        + CONTAINER_CONFIG_OUT
        + b',"created":"2019-12-26T22:20:24.0803536Z","docker_version":"18.06.1-ce",'
        b'"layer_id":"'
        + chain[2].encode()
        + b'","os":"linux","parent":"sha256:'
        + middle.encode()
        + b'"}'
    )

    images = synthesize(DOCKER_CONFIG, LAYERS)

    assert [image.id for image in images] == [base, middle, top]
    assert [image.parent for image in images] == [None, base, middle]
    assert [image.layer_digest for image in images] == [digest for digest, _ in LAYERS]
    assert [image.layer_size for image in images] == [100, 2000, 30]
    assert [image.diff_id for image in images] == DIFF_IDS


def test_the_served_json_is_dockers_legacy_json() -> None:
    base, middle, top = synthesize(DOCKER_CONFIG, LAYERS)
    assert base.json == (
        b'{"id":"' + base.id.encode() + b'","created":"1970-01-01T00:00:00Z",'
        b'"container_config":' + ZERO + b',"os":"linux"}'
    )
    assert middle.json == (
        b'{"id":"'
        + middle.id.encode()
        + b'","parent":"'
        + base.id.encode()
        + b'","created":"1970-01-01T00:00:00Z","container_config":'
        + ZERO
        + b',"os":"linux"}'
    )
    assert top.json == (
        b'{"id":"' + top.id.encode() + b'","parent":"' + middle.id.encode() + b'",'
        b'"created":"2019-12-26T22:20:24.0803536Z","container":"' + b"c" * 64 + b'",'
        b'"container_config":' + CONTAINER_CONFIG_OUT + b',"docker_version":"18.06.1-ce",'
        b'"author":"'
        + AUTHOR_OUT
        + b'","config":'
        + CONFIG_OUT
        + b',"architecture":"amd64","os":"linux"}'
    )
    # What a v1 client reads from it.
    parsed = json.loads(top.json)
    assert parsed["config"]["Cmd"] == ["run"]
    assert parsed["author"] == "Zoë <ops@example.com>"


PINNED = {
    "base": "fa1761c5e653de3485fe25a48f9fe592afe63f2625459d5ceff12c4c8b5736de",
    "top": "11082c0067a31fd85450380fcd1dd21b0a1b68a10da0a6079cbcceccd91be3a2",
}


def test_ids_are_pinned() -> None:
    """The same config gives the same ids in every release (ids end up in deploy
    scripts and audit exports)."""
    images = synthesize(DOCKER_CONFIG, LAYERS)
    assert (images[0].id, images[-1].id) == (PINNED["base"], PINNED["top"])


def buildkit_config(diff_ids: list[str], **extra: Any) -> bytes:
    """A BuildKit-style config: no container_config, a sparse config, no docker_version."""
    config: dict[str, Any] = {
        "architecture": "arm64",
        "variant": "v8",
        "os": "linux",
        "created": "2024-03-01T10:00:00+00:00",
        "config": {"Env": ["PATH=/bin"], "Cmd": "serve", "WorkingDir": "/", "OnBuild": None},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "COPY . /", "comment": "buildkit.dockerfile.v0"}],
    }
    config.update(extra)
    return json.dumps(config).encode()


def test_a_sparse_config_goes_through_go_structs() -> None:
    """Absent fields take Go's zero values, a string Cmd is a one-element list, a zero
    offset is written ``Z``: the bytes docker would hash for the same config."""
    (image,) = synthesize(buildkit_config(DIFF_IDS[:1]), LAYERS[:1])
    config = ZERO.replace(b'"Env":null,"Cmd":null', b'"Env":["PATH=/bin"],"Cmd":["serve"]')
    config = config.replace(b'"WorkingDir":""', b'"WorkingDir":"/"')
    expected = sha(
        b'{"architecture":"arm64","config":'
        + config
        + b',"container_config":'
        + ZERO
        + b',"created":"2024-03-01T10:00:00Z","layer_id":"'
        + DIFF_IDS[0].encode()
        + b'","os":"linux","variant":"v8"}'
    )
    assert image.id == expected
    assert image.parent is None
    assert json.loads(image.json)["config"]["Cmd"] == ["serve"]


def test_pointer_fields_keep_zero_values_that_omitempty_drops_elsewhere() -> None:
    """``StopTimeout: 0`` and an empty ``Healthcheck`` are written (Go pointers),
    ``StopSignal: ""`` and ``ExposedPorts: {}`` are not (omitempty)."""
    extra = {"config": {"StopTimeout": 0, "Healthcheck": {}, "StopSignal": "", "ExposedPorts": {}}}
    (image,) = synthesize(buildkit_config(DIFF_IDS[:1], **extra), LAYERS[:1])
    config = json.loads(image.json)["config"]
    assert config["StopTimeout"] == 0
    assert config["Healthcheck"] == {}
    assert "StopSignal" not in config
    assert "ExposedPorts" not in config


def test_a_layerless_image_is_one_image_without_a_layer() -> None:
    (image,) = synthesize(buildkit_config([]), [])
    assert image.layer_digest is None
    assert image.diff_id is None
    assert image.layer_size == 0
    assert image.parent is None
    parsed = json.loads(image.json)
    assert parsed["id"] == image.id
    assert "parent" not in parsed


def test_empty_layer_steps_do_not_change_the_chain() -> None:
    """History is not part of the scheme (docker folds empty_layer steps): dropping the
    ENV and CMD steps leaves every id as it was."""
    parsed = json.loads(DOCKER_CONFIG)
    parsed["history"] = [step for step in parsed["history"] if not step.get("empty_layer")]
    same = synthesize(json.dumps(parsed).encode(), LAYERS)
    assert [image.id for image in same] == [image.id for image in synthesize(DOCKER_CONFIG, LAYERS)]


@pytest.mark.parametrize(
    ("config", "layers", "message"),
    [
        (b"not json", LAYERS, "not JSON"),
        (b"[]", LAYERS, "not a JSON object"),
        (b'{"rootfs":{"type":"layers"}}' + b" " * CONFIG_LIMIT, LAYERS, "over"),
        (b'{"os":"linux"}', LAYERS, "no rootfs"),
        (b'{"rootfs":{"type":"layers","diff_ids":["nope"]}}', [LAYERS[0]], "diff_ids"),
        (buildkit_config(DIFF_IDS[:2]), LAYERS, "2 diff_ids but the manifest 3 layers"),
        (buildkit_config(DIFF_IDS[:1]), [("md5", 1)], "not a digest"),
        (buildkit_config(DIFF_IDS[:1]), [(LAYERS[0][0], -1)], "not a size"),
        (buildkit_config(DIFF_IDS[:1], config={"Env": "A=1"}), LAYERS[:1], "config.Env"),
        (buildkit_config(DIFF_IDS[:1], created="yesterday"), LAYERS[:1], "RFC 3339"),
        (buildkit_config(DIFF_IDS[:1], Size=1.5), LAYERS[:1], "config.Size"),
    ],
)
def test_a_config_that_does_not_fit_is_a_typed_error(
    config: bytes, layers: list[tuple[str, int]], message: str
) -> None:
    with pytest.raises(V1CompatError, match=message) as caught:
        synthesize(config, layers)
    assert isinstance(caught.value, ValueError)


hexes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
chains = st.lists(st.tuples(hexes, hexes, st.integers(0, 2**40)), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(chain=chains, other=hexes, env=st.lists(st.text(max_size=12), max_size=3))
def test_properties(chain: list[tuple[str, str, int]], other: str, env: list[str]) -> None:
    diff_ids = ["sha256:" + diff for diff, _, _ in chain]
    layers = [("sha256:" + blob, size) for _, blob, size in chain]
    config = buildkit_config(diff_ids, config={"Env": env})
    images = synthesize(config, layers)
    assert synthesize(config, layers) == images
    assert len(images) == len(chain)
    assert len({image.id for image in images}) == len(images)
    parent = None
    for image in images:
        assert len(image.id) == 64
        assert all(c in "0123456789abcdef" for c in image.id)
        assert image.parent == parent
        parsed = json.loads(image.json)
        assert parsed["id"] == image.id
        assert parsed.get("parent") == parent
        parent = image.id
    # Another layer below the top changes every id from there up.
    if other != chain[0][0]:
        changed = [f"sha256:{other}", *diff_ids[1:]]
        moved = synthesize(buildkit_config(changed, config={"Env": env}), layers)
        assert not {image.id for image in moved} & {image.id for image in images}
