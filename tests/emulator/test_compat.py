"""The one table of mode defaults and switches (compat.BEHAVIOURS), checked on the wire."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import httpx
import pytest
from click.testing import CliRunner
from docker_registry_v1.cli import main
from docker_registry_v1.cli.serve import SEARCH_SHAPES as SERVE_SEARCH_SHAPES
from docker_registry_v1.cli.serve import USERS_APIS as SERVE_USERS_APIS
from docker_registry_v1.emulator import Compat, Emulator, Hub
from docker_registry_v1.emulator.compat import (
    BEHAVIOURS,
    SEARCH_SHAPES,
    USERS_APIS,
    Behaviour,
    Mode,
)
from docker_registry_v1.emulator.seed import build_image_chain
from emulator_wire import ALICE

Factory = Callable[..., Emulator]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "emulator.md"
MODES: tuple[Mode, ...] = ("standalone", "hub")


def _index_url(emulator: Emulator) -> str:
    return emulator.index_url if isinstance(emulator, Hub) else str(emulator.url)


def _registry(emulator: Emulator, client: httpx.Client, repo: str) -> dict[str, str]:
    """Headers that let a hub registry serve ``repo`` (a read token); none standalone."""
    if not isinstance(emulator, Hub):
        return {}
    answer = client.get(f"/v1/repositories/{repo}/images", headers={"X-Docker-Token": "true"})
    return {"Authorization": f"Token {answer.headers['x-docker-token']}"}


def _observe(emulator: Emulator, switch: str) -> object:
    """What the emulator does for ``switch``, read off its answers (the table's values)."""
    image = build_image_chain(1)[0]
    emulator.store.seed("ns/r", "latest", [image])
    registry_url = emulator.registry_url if isinstance(emulator, Hub) else _index_url(emulator)
    with (
        httpx.Client(base_url=_index_url(emulator), auth=ALICE) as index,
        httpx.Client(
            base_url=registry_url, auth=None if isinstance(emulator, Hub) else ALICE
        ) as registry,
    ):
        if switch == "search":
            body = index.get("/v1/search", params={"q": "ns"}).json()
            if "page" not in body:
                return "reference"
            return "hub" if isinstance(body["page"], str) else "paged"
        if switch == "users":
            index.post("/v1/users/", json={"username": "alice", "password": "x", "email": ""})
            again = index.post(
                "/v1/users/", json={"username": "alice", "password": "", "email": ""}
            )
            return "reference" if again.status_code == 201 else "accounts"
        if switch == "token_prefix":
            answer = index.get("/v1/repositories/ns/r/images", headers={"X-Docker-Token": "true"})
            return answer.headers["x-docker-token"].startswith("Token ")
        headers = _registry(emulator, index, "ns/r")
        if switch == "tag_list_as_list":
            return isinstance(
                registry.get("/v1/repositories/ns/r/tags", headers=headers).json(), list
            )
        assert switch == "reference_ranges"
        layer = registry.get(
            f"/v1/images/{image.id}/layer", headers={**headers, "Range": "bytes=0-9"}
        )
        return not layer.headers["content-range"].startswith("bytes ")


def _start(factory: Factory, mode: Mode, compat: Compat | None = None) -> Emulator:
    return factory(mode, users=dict([ALICE]), compat=compat or Compat())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("row", BEHAVIOURS, ids=lambda row: row.switch)
def test_defaults_follow_the_table(emulator_factory: Factory, row: Behaviour, mode: Mode) -> None:
    assert Compat().resolved(row.switch, mode) == row.default(mode)
    assert _observe(_start(emulator_factory, mode), row.switch) == row.default(mode)


_OTHER_VALUES: dict[str, tuple[object, ...]] = {
    "search": ("reference", "hub", "paged"),
    "users": ("reference", "accounts"),
    "token_prefix": (True, False),
    "tag_list_as_list": (True,),
    "reference_ranges": (True,),
}


@pytest.mark.parametrize(
    ("switch", "value"),
    [(switch, value) for switch, values in _OTHER_VALUES.items() for value in values],
)
@pytest.mark.parametrize("mode", MODES)
def test_each_switch_overrides_the_mode(
    emulator_factory: Factory, mode: Mode, switch: str, value: object
) -> None:
    emulator = _start(emulator_factory, mode, Compat(**{switch: value}))
    assert _observe(emulator, switch) == value


def test_table_lists_every_switch_and_each_has_a_flag_and_docs() -> None:
    switches = {b.switch for b in BEHAVIOURS}
    assert switches == {field.name for field in attrs.fields(Compat)}
    assert switches == set(_OTHER_VALUES)
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    docs = DOCS.read_text()
    for row in BEHAVIOURS:
        for flag in row.flag.split("/"):
            assert flag in help_text, flag
        assert f"`{row.switch}`" in docs, row.switch


def test_unknown_switch_values_are_refused() -> None:
    with pytest.raises(ValueError, match="search"):
        Compat(search="sideways")  # type: ignore[arg-type]


def test_serve_offers_exactly_the_emulators_choices() -> None:
    """``regv1 serve`` spells the choices out so that its import stays free of the emulator."""
    assert SERVE_SEARCH_SHAPES == SEARCH_SHAPES
    assert SERVE_USERS_APIS == USERS_APIS
