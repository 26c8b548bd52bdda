"""Tags by age and by count (``--newer-than``, ``--last``) against the emulator over HTTP.

The registry is seeded with images whose v1 JSON carries chosen ``created`` times
(one image with none at all), so each rule's choice is known in advance; a fixed
clock makes ``2y`` mean the same on every day the suite runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from docker_registry_v1.core.errors import InvalidInput
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain, payload_checksum
from docker_registry_v1.formats.layout import OCILayout
from docker_registry_v1.transfer.inventory import inventory
from docker_registry_v1.transfer.selection import Selection, parse_last, parse_newer_than
from docker_registry_v1.v1.client import Client

#: repository → tag → (image seed, created); ``None``: the JSON has no ``created``.
LAYOUT: dict[str, dict[str, tuple[int, str | None]]] = {
    "team/app": {
        "1.0": (1, "2019-01-01T00:00:00.123456789Z"),
        "1.1": (2, "2023-06-01T00:00:00Z"),
        "2.0": (3, "2024-03-01T00:00:00Z"),
        "2.1": (4, "2024-03-01T00:00:00Z"),  # the same time as 2.0: the name decides
        "latest": (4, "2024-03-01T00:00:00Z"),  # an alias of 2.1
        "nodate": (5, None),
    },
    "team/db": {
        "a": (6, "2022-01-01T00:00:00Z"),
        "b": (7, "2025-01-01T00:00:00+01:00"),
        "zero": (8, "0001-01-01T00:00:00Z"),  # docker's zero time: unknown, not ancient
    },
}


def dated(image: SeedImage, created: str | None) -> SeedImage:
    """``image`` with its JSON's ``created`` replaced (or removed), checksum recomputed."""
    document = json.loads(image.json_bytes)
    document.pop("created")
    if created is not None:
        document["created"] = created
    json_bytes = json.dumps(document, separators=(",", ":")).encode()
    return SeedImage(
        id=image.id,
        parent=image.parent,
        json_bytes=json_bytes,
        layer_bytes=image.layer_bytes,
        checksum=payload_checksum(json_bytes, image.layer_bytes),
    )


@pytest.fixture
def registry(standalone: Standalone) -> Standalone:
    for repository, tags in LAYOUT.items():
        for tag, (seed, created) in tags.items():
            (image,) = build_image_chain(1, seed=seed, layer_size=16)
            standalone.store.seed(repository, None, [dated(image, created)])
            assert standalone.store.set_tag(repository, tag, image.id, {})
    return standalone


def chosen(registry: Standalone, selection: Selection) -> tuple[dict[str, list[str]], list[str]]:
    with Client(registry.url) as client:
        found = inventory(client, selection=selection)
    tags = {r.name: sorted(r.tags) for r in found.repositories}
    return tags, [f"{repository}:{tag}" for repository, tag in found.undated]


def test_last_n_per_repository_newest_first_and_ties_by_name(registry: Standalone) -> None:
    tags, undated = chosen(registry, Selection.parse(last=2))
    assert tags == {"team/app": ["2.1", "latest"], "team/db": ["a", "b"]}
    assert undated == ["team/app:nodate", "team/db:zero"]  # named, not dropped silently
    tags, _ = chosen(registry, Selection.parse(last="1"))
    assert tags == {"team/app": ["latest"], "team/db": ["b"]}


def test_newer_than_a_date_and_an_age_on_a_fixed_clock(registry: Standalone) -> None:
    tags, undated = chosen(registry, Selection.parse(newer_than="2024-01-01"))
    assert tags == {"team/app": ["2.0", "2.1", "latest"], "team/db": ["b"]}
    assert undated == ["team/app:nodate", "team/db:zero"]
    clock = datetime(2025, 6, 1, tzinfo=UTC)
    tags, _ = chosen(registry, Selection.parse(newer_than="2y", now=clock))
    assert tags == {"team/app": ["1.1", "2.0", "2.1", "latest"], "team/db": ["b"]}
    tags, _ = chosen(registry, Selection.parse(newer_than="2023-06-01T00:00:01Z"))
    assert tags["team/app"] == ["2.0", "2.1", "latest"]  # 1.1 is a second too old


def test_tags_first_then_age_then_count(registry: Standalone) -> None:
    selection = Selection.parse(tags=r"1\..*|2\.0", newer_than="2023-01-01", last=1)
    tags, undated = chosen(registry, selection)
    assert tags == {"team/app": ["2.0"], "team/db": []}
    assert undated == []  # "nodate" and "zero" were left out by --tags, before any age rule


def test_the_choice_costs_no_request(registry: Standalone) -> None:
    """Untagged images are not looked for under any tag rule; beyond that, age and count
    are decided from the JSON the inventory read anyway."""
    with Client(registry.url) as client:
        plain = inventory(client, selection=Selection.parse(tags=".*")).requests
    with Client(registry.url) as client:
        timed = inventory(client, selection=Selection.parse(newer_than="2020-01-01", last=1))
    assert timed.requests == plain


def test_parsing_ages_dates_and_counts() -> None:
    now = datetime(2025, 3, 31, 12, tzinfo=UTC)
    assert parse_newer_than("1m", now) == datetime(2025, 2, 28, 12, tzinfo=UTC)  # clamped
    assert parse_newer_than("2y", now) == datetime(2023, 3, 31, 12, tzinfo=UTC)
    assert parse_newer_than("3w", now) == datetime(2025, 3, 10, 12, tzinfo=UTC)
    assert parse_newer_than("12h", now) == datetime(2025, 3, 31, tzinfo=UTC)
    assert parse_newer_than("2024-01-01") == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_newer_than("2024-01-01T02:00:00+02:00") == datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_last(" 3 ") == 3
    for bad in ("yesterday", "2q", "-1d", "", "2024-13-01", "1.5y"):
        with pytest.raises(InvalidInput, match="--newer-than"):
            parse_newer_than(bad, now)
    for value in ("0", "-2", "x", "1.5"):
        with pytest.raises(InvalidInput, match="--last"):
            parse_last(value)


def regv1(*args: str) -> Result:
    from docker_registry_v1.cli import main  # noqa: PLC0415

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_inventory_cli_selects_and_names_the_undated(registry: Standalone) -> None:
    host = registry.url.removeprefix("http://")
    result = regv1(
        "inventory", host, "--last", "1", "--newer-than", "2024-01-01", "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    rows = {(row["repository"], row["tag"]) for row in json.loads(result.stdout)["tags"]}
    assert rows == {("team/app", "latest"), ("team/db", "b")}
    lines = result.stderr.splitlines()
    assert [line for line in lines if '"event": "phase"' not in line] == [
        "warning: 2 tags left out by --newer-than/--last: their image has no readable "
        "created time (team/app:nodate, team/db:zero)"
    ]


def test_migrate_dry_run_plans_only_the_chosen_tags(registry: Standalone, tmp_path: Path) -> None:
    host = registry.url.removeprefix("http://")
    result = regv1(
        "migrate",
        host,
        f"oci:{tmp_path / 'layout'}",
        "--journal",
        str(tmp_path / "journal.db"),
        "--dry-run",
        "--tags",
        "[0-9.]+",
        "--last",
        "2",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    planned = {row["source"] for row in json.loads(result.stdout)["plan"]}
    assert planned == {"team/app:2.1", "team/app:2.0"}  # team/db's tags are not numbers


def test_migrate_moves_only_the_chosen_tags(registry: Standalone, tmp_path: Path) -> None:
    host, layout = registry.url.removeprefix("http://"), tmp_path / "layout"
    result = regv1(
        "migrate",
        *(host, f"oci:{layout}", "--journal", str(tmp_path / "journal.db")),
        *("--newer-than", "2024-01-01", "--last", "1", "--format", "json"),
    )
    assert result.exit_code == 0, result.stderr
    copied = {t["destination"] for t in json.loads(result.stdout)["tags"]}
    assert copied == {"team/app:latest", "team/db:b"}
    assert set(OCILayout(layout).refs()) == copied
    assert "team/app:nodate, team/db:zero" in result.stderr


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (("--newer-than", "yesterday"), "--newer-than"),
        (("--newer-than", "2q"), "--newer-than"),
        (("--last", "0"), "--last"),
        (("--last", "many"), "--last"),
    ],
)
def test_bad_values_are_one_error_line_and_exit_1(
    flags: tuple[str, str], fragment: str, tmp_path: Path
) -> None:
    """Refused before any request: the address names nothing that answers."""
    for command in (
        ("inventory", "127.0.0.1:9"),
        ("migrate", "127.0.0.1:9", f"oci:{tmp_path / 'layout'}", "--dry-run"),
    ):
        result = regv1(*command, *flags)
        assert result.exit_code == 1, (command, result.stdout, result.stderr)
        assert result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert line.startswith("error: "), line
        assert fragment in line, line
