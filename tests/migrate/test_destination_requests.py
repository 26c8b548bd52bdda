"""How many requests a migration sends the destination per tag, read from distribution's
own request log, against the formula `docs/migration.md` states.

Fresh destination, one run (R destination repositories, T tags):

    the pings + R tags/list + T manifest PUTs
    + per blob uploaded under 1 MiB (every config, a small layer): 1 monolithic POST
      ``?digest=`` (distribution 2.8 answers it 202 and drops the body, so a PUT with
      the bytes follows: 2 here; 1 where it is 201)
    + per larger layer uploaded: POST + PATCH + PUT
    + per blob another repository already holds: 1 mount POST
    + no HEAD at all (no tag or blob can be there yet, and the journal knows it).

A rerun with nothing to do asks only the tag lists: a listed tag the journal saw written
from the same image is current on the journal's word (``--repair`` checks it for real).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from click.testing import CliRunner
from docker_registry_v1.cli import main
from migrate_checks import Seeded
from v2.v2registry import V2Registry

_REQUEST = re.compile(
    r'http\.request\.method=(?P<method>[A-Z]+) .*http\.request\.uri="?(?P<uri>[^"\s]+)'
)


def _kind(method: str, uri: str) -> str:
    if uri == "/v2/":
        return "ping"
    if uri.endswith("/tags/list") or "/tags/list?" in uri:
        return "tags/list"
    if "/manifests/" in uri:
        return f"manifest {method}"
    if "/blobs/uploads/" in uri:
        if method == "POST" and "mount=" in uri:
            return "mount POST"
        if method == "POST" and "digest=" in uri:
            return "monolithic POST"
        return f"upload {method}"
    if "/blobs/" in uri:
        return f"blob {method}"
    return f"other {method} {uri}"


def requests(registry: V2Registry, since: int = 0) -> Counter[str]:
    """The requests distribution answered (log lines from ``since``), by kind."""
    found: Counter[str] = Counter()
    for line in registry.log_lines()[since:]:
        match = _REQUEST.search(line)
        assert match is not None, line
        found[_kind(match["method"], match["uri"])] += 1
    return found


def _placements(seeded: Seeded) -> tuple[int, int, int]:
    """(blob placements the run needs, unique layer blobs, unique configs): each
    destination repository needs every layer of its tags' chains and each tag's config."""
    placements = 0
    for repo in seeded.seed.repositories:
        tips = seeded.tips(f"^{re.escape(repo)}$")
        placements += len({i for tip in tips for i in seeded.seed.chains[tip]}) + len(tips)
    return placements, len(seeded.unique_images()), len(seeded.tips())


def test_a_fresh_destination_gets_the_documented_requests_per_tag(
    seeded: Seeded, v2_fresh: V2Registry, tmp_path: Path
) -> None:
    journal = str(tmp_path / "journal.sqlite")
    dest = f"docker://{v2_fresh.host}"
    done = CliRunner().invoke(
        main, ["migrate", "--no-provenance", seeded.host, dest, "--journal", journal]
    )
    assert done.exit_code == 0, done.output

    seen = requests(v2_fresh)
    repos, tags = len(seeded.seed.repositories), seeded.seed.tag_count
    placements, layers, configs = _placements(seeded)
    assert seen["blob HEAD"] == 0
    assert seen["manifest HEAD"] == 0
    assert 1 <= seen["ping"] <= 5  # the plan's and the run's clients, not per tag
    assert seen["tags/list"] == repos
    assert seen["manifest PUT"] == tags
    # every blob is small here: each layer and config once as a monolithic POST (two
    # tags committing one config at once may both send it: then one mount fewer)
    assert max(seeded.seed.size(i) for i in seeded.unique_images()) < 1 << 19
    sent = seen["monolithic POST"]
    assert seen["upload POST"] == seen["upload PATCH"] == 0
    assert seen["upload PUT"] == sent
    assert layers + configs <= sent <= layers + configs + tags
    assert sent + seen["mount POST"] == placements
    formula = seen["ping"] + repos + tags + 2 * sent + (placements - sent)
    assert sum(seen.values()) == formula, seen
    per_tag = sum(seen.values()) / tags
    assert per_tag < 8, per_tag

    # a rerun with nothing to do: the tag lists, nothing else
    mark = len(v2_fresh.log_lines())
    again = CliRunner().invoke(
        main, ["migrate", "--no-provenance", seeded.host, dest, "--journal", journal]
    )
    assert again.exit_code == 0, again.output
    rerun = requests(v2_fresh, mark)
    assert rerun.pop("ping", 0) <= 5
    assert rerun == Counter({"tags/list": repos})
