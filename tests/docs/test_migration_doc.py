"""Runs every command of docs/migration.md, as written, with the real ``regv1`` script.

The page names ``old.example:5000`` (a v1 registry, user ``reader``, private
repositories under ``team2/``), ``new.example:5000`` (a v2 registry, user ``mover``) and
``next.example:5000`` (another v1 registry). Here they are the migrate tests' seeded v1
emulator, Debian's distribution registry with htpasswd auth and an empty emulator. The
``sh`` blocks run in order, each in ``bash -euo pipefail``, in one directory, with the
variables a block exports carried into the next (as in one terminal session). Outcomes
are read back from the registries (the OCI client, skopeo, the emulator's store and
distribution's request log), not only from exit statuses.

The sharding routes each go into a registry of their own: the ``parallel`` line (GNU
parallel from tools/install-system-deps.sh; where it is missing the test runs the same
command once per shard in a loop instead, as the page's ``for`` line does) and the
Kubernetes Job, which cannot run here: its manifest is parsed and checked, and its pod
command line is run once per completion index with the environment the manifest gives it.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from docker_registry_v1 import OCILayout, ProblemKind
from docker_registry_v1.emulator import Breakage, Standalone
from docker_registry_v1.emulator.seed import build_image_chain
from docker_registry_v1.emulator.server import run_standalone
from docker_registry_v1.formats.convert import ManifestFormat
from docker_registry_v1.formats.provenance import EMPTY_CONFIG, is_fallback_tag
from docker_registry_v1.oci.auth import RegistryAuth
from docker_registry_v1.oci.client import OCIClient
from migrate_support import SeededRegistry, seed_registry
from system_tools import require_tool
from test_shell_examples import sh_blocks
from v2.v2registry import PASSWORD as NEW_PASSWORD
from v2.v2registry import USER as NEW_USER
from v2.v2registry import Mode, V2Registry

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "migration.md"
OLD, NEW, NEXT = "old.example:5000", "new.example:5000", "next.example:5000"
OLD_USER, OLD_PASSWORD = "reader", "0ld-s3cret"
REPOS = 12
SHARDS = 4
_UPLOADED = re.compile(
    r'http\.request\.method=PUT .*http\.request\.uri="/v2/[^"]+?/blobs/uploads/'
    r'[^"]*[?&]digest=sha256%3A[0-9a-f]{64}[^"]*".*http\.response\.status=201'
)

V2Factory = Callable[[Mode], V2Registry]


def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


def _sections(markdown: str) -> dict[str, list[str]]:
    """Level-2 heading → its ``sh`` blocks, in page order."""
    parts = re.split(r"^## (.+)$", markdown, flags=re.MULTILINE)
    return {
        title.strip(): sh_blocks(body) for title, body in zip(parts[1::2], parts[2::2], strict=True)
    }


def _section(title_start: str) -> list[str]:
    sections = _sections(_page()).items()
    found = [blocks for title, blocks in sections if title.startswith(title_start)]
    assert len(found) == 1, f"one '## {title_start}…' section"
    return found[0]


def _netloc(url: str) -> str:
    return url.removeprefix("http://").rstrip("/")


class Shell:
    """One reader's terminal: a directory, the environment and the hosts behind the names."""

    def __init__(self, cwd: Path, old: Standalone, new: V2Registry, following: Standalone) -> None:
        self.cwd = cwd
        self.hosts = {OLD: _netloc(old.url), NEW: new.host, NEXT: _netloc(following.url)}
        self._state = cwd.parent / f"{cwd.name}.exports"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("REGV1_") and key != "CI"
        }
        (cwd / "docker-config").mkdir(parents=True)
        self.env.update(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{self.env.get('PATH', '')}",
            DOCKER_CONFIG=str(cwd / "docker-config"),
            XDG_STATE_HOME=str(cwd / "state"),
            XDG_RUNTIME_DIR=str(cwd / "runtime"),
            HOME=str(cwd),
            OLD_PASSWORD=OLD_PASSWORD,
            NEW_PASSWORD=NEW_PASSWORD,
        )

    def script(self, block: str) -> str:
        for name, host in self.hosts.items():
            block = block.replace(name, host)
        return block

    def run(self, block: str, *, extra: dict[str, str] | None = None, status: int = 0) -> str:
        """The block in ``bash -euo pipefail`` after the exports of the blocks before it;
        it must end with exit ``status``."""
        state = shlex.quote(str(self._state))
        script = f"[ -f {state} ] && source {state}\n{self.script(block)}\nexport -p > {state}\n"
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.cwd,
            env={**self.env, **(extra or {})},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == status, f"{block}\n{done.stderr[-4000:]}"
        assert "Traceback" not in done.stderr
        assert "deprecated" not in done.stderr, done.stderr  # the page shows current flags
        return done.stdout

    def start(self, block: str) -> subprocess.Popen[str]:
        """The block's one command in the background (``exec``: signals reach it), after
        the exports of the blocks before it; its output is piped."""
        state = shlex.quote(str(self._state))
        script = f"[ -f {state} ] && source {state}\nexec {self.script(block).strip()}\n"
        return subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@contextmanager
def _old_registry() -> Iterator[tuple[Standalone, SeededRegistry]]:
    with run_standalone(users={OLD_USER: OLD_PASSWORD}) as emulator:
        seed = seed_registry(emulator.store, repos=REPOS, tags_per_repo=3, base_chains=3, seed=14)
        for name in seed.repositories:
            if name.startswith("team2/"):
                emulator.store.set_access(name, "private")
        yield emulator, seed


def _expected(seed: SeededRegistry) -> dict[str, set[str]]:
    return {repo: set(tags) for repo, tags in seed.repositories.items()}


def _oci(registry: V2Registry) -> OCIClient:
    auth = RegistryAuth(registry.url, username=NEW_USER, password=NEW_PASSWORD)
    return OCIClient(registry.url, auth=auth)


def _v2_contents(registry: V2Registry) -> dict[str, set[str]]:
    """repository → tags, as distribution lists them, without the ``sha256-<hex>`` tags of
    the v1 provenance's referrers fallback (section 13)."""
    catalog = httpx.get(
        f"{registry.url}/v2/_catalog?n=1000", auth=(NEW_USER, NEW_PASSWORD), timeout=30
    )
    catalog.raise_for_status()
    with _oci(registry) as client:
        return {
            name: {tag for tag in client.tags(name) if not is_fallback_tag(tag)}
            for name in catalog.json()["repositories"]
        }


def _skopeo_digest(reference: str) -> str:
    done = subprocess.run(
        [
            require_tool("skopeo"),
            "inspect",
            "--tls-verify=false",
            f"--creds={NEW_USER}:{NEW_PASSWORD}",
            "--format",
            "{{.Digest}}",
            reference,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def _uploads(registry: V2Registry) -> int:
    """Blob uploads distribution completed (201 to the final PUT), from its request log."""
    return sum(1 for line in registry.log_lines() if _UPLOADED.search(line))


def _search_disabled_message() -> str:
    match = re.search(r"^```text\n(error: .*search disabled.*)\n```", _page(), re.MULTILINE)
    assert match is not None, "the page quotes the search-disabled error"
    return match.group(1)


def _check_inventory(shell: Shell, seed: SeededRegistry, old: Standalone) -> None:
    blocks = _section("2.")
    assert len(blocks) == 2
    shell.run(blocks[0])
    with (shell.cwd / "tags.csv").open(encoding="utf-8") as rows:
        listed = {(row["repository"], row["tag"], row["image_id"]) for row in csv.DictReader(rows)}
    assert listed == set(seed.tag_pairs())  # the private team2/ ones too: the login went
    totals = json.loads((shell.cwd / "inventory.json").read_text())["totals"]
    assert totals["unique_bytes"] == seed.unique_bytes < totals["tagged_bytes"]

    rule = old.faults.html_error("/v1/search", 404, times=None)  # no search backend
    try:
        refused = subprocess.run(
            ["regv1", "inventory", shell.hosts[OLD]],
            cwd=shell.cwd,
            env={**shell.env, "REGV1_USERNAME": OLD_USER, "REGV1_PASSWORD": OLD_PASSWORD},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert refused.returncode == 1
        assert refused.stderr.strip() == shell.script(_search_disabled_message())
        out = shell.run(blocks[1])
    finally:
        old.faults.remove(rule)
    listed_repos = {line.split("\t")[0] for line in out.splitlines() if line}
    assert listed_repos == {"team1/app01", "team2/app02", "library/base00"}


def _newest_team1_tags(seed: SeededRegistry, since: str) -> set[str]:
    """Section 3's ``--include '^team1/' --tags '1\\..*' --newer-than SINCE --last 1``,
    worked out from the seed's image JSON: per repository the newest ``1.x`` tag created
    since then (to the second, as the seed writes them; equal times: the greater name)."""
    chosen = set()
    for repository, tags in seed.repositories.items():
        if not repository.startswith("team1/"):
            continue
        dated = [
            (json.loads(seed.images[tip].json_bytes)["created"], tag)
            for tag, tip in tags.items()
            if re.fullmatch(r"1\..*", tag)
        ]
        recent = [(created, tag) for created, tag in dated if created[:19] >= since]
        if recent:
            chosen.add(f"{repository}:{max(recent)[1]}")
    assert chosen, "the example would select nothing"
    return chosen


def _check_plan_and_migration(shell: Shell, seed: SeededRegistry, new: V2Registry) -> None:
    plan_blocks = _section("3.")
    assert len(plan_blocks) == 3
    assert all("--dry-run" in block for block in plan_blocks)
    whole = shell.run(plan_blocks[0])
    tags = seed.tag_count
    assert f"plan: {REPOS} repositories, {tags} tags ({tags} to copy, 0 already current" in whole
    narrow = shell.run(plan_blocks[1])
    planned = {line.split("\t")[1] for line in narrow.splitlines() if "\tcopy\t" in line}
    newest = shell.run(plan_blocks[2])
    by_time = {line.split("\t")[0] for line in newest.splitlines() if "\tcopy\t" in line}
    assert by_time == _newest_team1_tags(seed, since="2015-03-01T10:00:11")
    assert not _v2_contents(new), "a dry run sends nothing"

    migrate_blocks = _section("4.")
    assert len(migrate_blocks) == 2
    shell.run(migrate_blocks[0])
    expected = _expected(seed)
    team1 = sorted(r for r in seed.repositories if r.startswith("team1/") and r != "team1/app10")
    assert team1
    assert "team1/app10" in expected  # what the --exclude leaves out
    out = shell.run(migrate_blocks[1])
    selected = {f"legacy/apps/{repo.removeprefix('team1/')}": {"1.0"} for repo in team1}
    assert planned == {f"{name}:1.0" for name in selected}
    assert _v2_contents(new) == expected | selected
    report = json.loads((shell.cwd / "legacy.json").read_text())
    assert report["summary"]["copied"] == len(team1)
    assert report["summary"]["failed"] == 0
    for tag in report["tags"]:
        assert f"{tag['destination']} {tag['digest']}" in out
        name, _, ref = tag["destination"].rpartition(":")
        assert _skopeo_digest(f"docker://{new.host}/{name}:{ref}") == tag["digest"]


def _check_resume_and_verify(shell: Shell, new: V2Registry) -> None:
    before = _uploads(new)
    resume, listing = _section("5.")
    assert "--resume" in resume
    shell.run(resume)
    assert _uploads(new) == before, "the re-run sends nothing that landed"
    journals = shell.run(listing).split()
    assert any(name.endswith(".sqlite") for name in journals)

    verify_blocks = _section("6.")
    assert len(verify_blocks) == 2
    assert "--verify " in verify_blocks[0]
    assert "--verify=fast " in verify_blocks[0]
    out = shell.run(verify_blocks[0])
    checked = [int(n) for n in re.findall(r"verified (\d+) tags: 0 mismatches", out)]
    assert len(checked) == 2
    assert min(checked) > 0
    _check_repair(shell, new, verify_blocks[1])


def _check_repair(shell: Shell, new: V2Registry, repair: str) -> None:
    """A layer blob deleted from distribution's storage under a current tag: the page's
    ``--verify=fast`` names it (exit 2), its ``--repair`` uploads it again, skopeo then
    copies the tag whole and the verify passes."""
    assert "--repair " in repair
    name, tag = "team1/app01", "1.0"
    with _oci(new) as client:
        found = client.get_manifest(name, tag, accept=[ManifestFormat.DOCKER.value.manifest])
    lost = json.loads(found.data)["layers"][-1]["digest"]
    blobs = new.root / "storage" / "docker" / "registry" / "v2" / "blobs" / "sha256"
    (blobs / lost[7:9] / lost[7:] / "data").unlink()
    verify = repair.replace("--repair ", "--verify=fast ")
    out = shell.run(verify, status=2)
    assert f"{name}\t{tag}\tmissing\t{lost}\tthe layer blob is missing" in out.splitlines()
    uploaded = len(new.log_lines())
    shell.run(repair)
    sent = [line for line in new.log_lines()[uploaded:] if _UPLOADED.search(line)]
    assert any(f"digest=sha256%3A{lost[7:]}" in line for line in sent)
    copied = subprocess.run(
        [
            require_tool("skopeo"),
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            f"--src-creds={NEW_USER}:{NEW_PASSWORD}",
            f"docker://{new.host}/{name}:{tag}",
            f"oci:{shell.cwd / 'repaired'}:{tag}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert copied.returncode == 0, copied.stderr
    assert "verified" in shell.run(verify)


def _check_export(shell: Shell, seed: SeededRegistry, new: V2Registry) -> None:
    """The mapping from the journal (no server asked) and from the destination alone:
    every tag the registry holds (the referrers fallback tags aside) from the destination,
    those the journal vouches for from the journal, the same rows for those but for the
    ``provenance`` column, each chain the seed's, base first."""
    (block,) = _section("14. Exporting")
    assert "--from docker://" in block
    shell.run(block)
    with (shell.cwd / "mapping.csv").open(encoding="utf-8") as rows:
        journal_rows = list(csv.DictReader(rows))
    document = json.loads((shell.cwd / "mapping.json").read_text())
    assert document["problems"] == []
    dest_rows = [
        {key: "" if value is None else str(value) for key, value in row.items()}
        for row in document["rows"]
    ]
    assert {row["provenance"] for row in journal_rows} == {"journal"}
    assert {row["provenance"] for row in dest_rows} == {"artifact"}
    held = {(name, tag) for name, tags in _v2_contents(new).items() for tag in tags}
    assert {(row["v2_repository"], row["v2_tag"]) for row in dest_rows} == held
    # section 6's repair found legacy/apps/app01:1.0 wrong too (it shares the lost blob)
    # but left it out of its selection: the journal no longer vouches for that tag
    vouched = held - {("legacy/apps/app01", "1.0")}
    assert {(row["v2_repository"], row["v2_tag"]) for row in journal_rows} == vouched

    def strip(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        return [
            {key: value for key, value in row.items() if key != "provenance"}
            for row in rows
            if (row["v2_repository"], row["v2_tag"]) in vouched
        ]

    assert strip(journal_rows) == strip(dest_rows)
    chain = [
        row["v1_image_id"]
        for row in journal_rows
        if (row["v2_repository"], row["v2_tag"]) == ("team1/app01", "1.0")
    ]
    assert chain == list(seed.chains[seed.repositories["team1/app01"]["1.0"]])


def _check_other_destinations(shell: Shell, seed: SeededRegistry, following: Standalone) -> None:
    into_v1, into_layout = _section("8.")
    shell.run(into_v1)
    team1 = {r: dict(t) for r, t in seed.repositories.items() if r.startswith("team1/")}
    for repo, tags in team1.items():
        assert following.store.tags(repo) == tags
    digest = shell.run(into_layout).splitlines()[-1]
    refs = OCILayout(shell.cwd / "app01-layout").refs()
    assert set(refs) == {f"team1/app01:{tag}" for tag in seed.repositories["team1/app01"]}
    assert digest == refs["team1/app01:1.0"]


def _check_politeness(shell: Shell, old: Standalone) -> None:
    """The budgets' example: it runs, and the old registry saw at most 1 + 5 requests in
    any second (the token bucket holds one token)."""
    (polite,) = _section("9.")
    assert "--src-rate 5" in polite
    old.log.clear()
    shell.run(polite)
    times = sorted(entry.started for entry in old.log.entries)
    assert times
    assert max(sum(1 for t in times[i:] if t <= start + 1) for i, start in enumerate(times)) <= 6


def test_every_migration_doc_command_runs(v2_factory: V2Factory, tmp_path: Path) -> None:
    sections = _sections(_page())
    assert sum(len(blocks) for blocks in sections.values()) >= 12
    with _old_registry() as (old, seed), run_standalone() as following:
        new = v2_factory("htpasswd")
        shell = Shell(tmp_path / "reader", old, new, following)
        (credentials,) = _section("1.")
        shell.run(credentials)
        _check_inventory(shell, seed, old)
        _check_plan_and_migration(shell, seed, new)
        _check_resume_and_verify(shell, new)
        _check_export(shell, seed, new)
        _check_other_destinations(shell, seed, following)
        _check_politeness(shell, old)
        _check_broken_images(shell, old, new)


def _check_broken_images(shell: Shell, old: Standalone, new: V2Registry) -> None:
    """Section 10 on a registry that now holds a broken image: the upload of a new tag's
    image never finished (the reference registry's 400, forever). The inventory lists it
    and exits 0; the migration moves the rest, names that tag, and exits 2."""
    (block,) = _section("10.")
    chain = build_image_chain(2, seed=1010, layer_size=512)
    old.store.seed("team1/halfway", "2015", chain)
    old.store.break_image(chain[-1].id, Breakage.IN_PROGRESS)
    out = shell.run(block)
    assert f"team1/halfway 2015 {ProblemKind.IN_PROGRESS.value}" in out, out
    assert "exit status 2" in out, out
    failed = [line for line in out.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 1, out
    assert failed[0].startswith("failed: team1/halfway:2015 ")
    assert "Image is being uploaded, retry later" in failed[0]
    assert "team1/halfway" not in _v2_contents(new)


def _parallel_as_loop(line: str) -> str:
    """``parallel -q -j N CMD… ::: I…`` as the bash loop it stands for (GNU parallel absent)."""
    match = re.fullmatch(r"parallel -q -j \d+ (.+) ::: ([\d ]+)", line)
    assert match is not None, line
    command, values = match.groups()
    return f"for i in {values}; do {command.replace('{}', '$i')} & done; wait"


def test_the_parallel_shards_cover_the_registry(v2_factory: V2Factory, tmp_path: Path) -> None:
    run_parallel, verify_each = _section("7.")
    assert run_parallel.startswith("parallel ")
    assert f"--shard {{}}/{SHARDS}" in run_parallel
    assert " ::: " + " ".join(str(i) for i in range(SHARDS)) in run_parallel
    if shutil.which("parallel") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("GNU parallel is missing (tools/install-system-deps.sh installs it)")
        run_parallel = _parallel_as_loop(run_parallel.strip())
    with _old_registry() as (old, seed), run_standalone() as following:
        new = v2_factory("htpasswd")
        shell = Shell(tmp_path / "reader", old, new, following)
        shell.run(_section("1.")[0])
        shell.run(run_parallel)
        assert _v2_contents(new) == _expected(seed)
        journals = sorted(p.name[-20:] for p in shell.cwd.glob("state/*/*-shard-*.sqlite"))
        assert journals == [f"-shard-{i}-of-{SHARDS}.sqlite" for i in range(SHARDS)]
        out = shell.run(verify_each)
        checked = [int(n) for n in re.findall(r"verified (\d+) tags: 0 mismatches", out)]
        assert len(checked) == SHARDS
        assert sum(checked) == seed.tag_count


def _job() -> dict[str, Any]:
    blocks = re.findall(r"^```yaml\n(.*?)^```", _page(), re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1
    document: dict[str, Any] = yaml.safe_load(blocks[0])
    return document


def test_the_kubernetes_job_is_an_indexed_job_whose_pods_cover_the_registry(
    v2_factory: V2Factory, tmp_path: Path
) -> None:
    job = _job()
    assert job["apiVersion"] == "batch/v1"
    assert job["kind"] == "Job"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] in {"Never", "OnFailure"}
    (container,) = pod["containers"]
    shell_word, flag, line = container["command"]
    assert (shell_word, flag) == ("sh", "-c")
    match = re.search(r"--shard auto/(\d+)", line)
    assert match is not None
    assert spec["completions"] == int(match.group(1)) == SHARDS
    assert spec["parallelism"] <= spec["completions"]
    secrets = {"old-password": OLD_PASSWORD, "new-password": NEW_PASSWORD}
    env = {}
    for variable in container["env"]:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            env[variable["name"]] = secrets[variable["valueFrom"]["secretKeyRef"]["key"]]
    assert set(env) == {"OLD_PASSWORD", "NEW_PASSWORD"}  # both from the Secret
    assert "--src-creds reader --src-password-stdin" in line
    with _old_registry() as (old, seed), run_standalone() as following:
        new = v2_factory("htpasswd")
        for index in range(SHARDS):  # one pod each: its own directory, journal and home
            pod_shell = Shell(tmp_path / f"pod-{index}", old, new, following)
            pod_shell.run(line, extra={**env, "JOB_COMPLETION_INDEX": str(index)})
        assert _v2_contents(new) == _expected(seed)


def test_the_page_names_only_placeholder_hosts_and_is_linked() -> None:
    """The runner can only rewrite hosts it knows; any other would go out to the network."""
    blocks = [b for bs in _sections(_page()).values() for b in bs]
    hosts = set(re.findall(r"\b([a-z0-9.-]+\.[a-z]+:\d+)", "\n".join(blocks)))
    assert hosts <= {OLD, NEW, NEXT}
    commands = set(re.findall(r"\bregv1 ([a-z-]+)", "\n".join(blocks)))
    assert commands == {"inventory", "migrate", "provenance"}
    assert "migration.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "migration.md" in (ROOT / "docs" / "migration-guide.md").read_text(encoding="utf-8")
    assert "`docs/migration.md`" in (ROOT / "README.md").read_text(encoding="utf-8")


def _lines_until(process: subprocess.Popen[str], wanted: str, seen: list[str]) -> None:
    """Read the process's stdout into ``seen`` until a line holds ``wanted``."""
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line.rstrip("\n"))
        if wanted in line:
            return
    pytest.fail(f"no line with {wanted!r}: {seen}")


def test_keeping_in_sync_with_watch_cron_and_prune(v2_factory: V2Factory, tmp_path: Path) -> None:
    """Section 11: the ``--watch`` command (at 0.3 s instead of 5 m) picks up a pushed tag and
    reports a deleted one as the page shows, stops on SIGTERM with exit 0; the crontab's
    command runs as cron would run it; ``--prune`` then deletes the tag."""
    section = _section("11. Keeping in sync")
    assert len(section) == 2
    watching, pruning = section
    assert "--watch 5m" in watching
    assert "--prune" in pruning
    text = _page().split("## 11. Keeping in sync", 1)[1].split("\n## ", 1)[0]
    deleted_line = (
        "deleted at source: team1/app01:1.0 (still at team1/app01:1.0; --prune deletes it)"
    )
    assert deleted_line in text
    cron = re.search(r"^\*/5 \* \* \* \* cd /srv/regv1 && (.+)$", text, re.MULTILINE)
    assert cron is not None
    require_tool("flock")
    with _old_registry() as (old, seed), run_standalone() as following:
        new = v2_factory("htpasswd")
        shell = Shell(tmp_path / "reader", old, new, following)
        shell.run(_section("1.")[0])
        process = shell.start(watching.replace("--watch 5m", "--watch 0.3s"))
        seen: list[str] = []
        try:
            _lines_until(process, "pass 1: ", seen)
            assert f"pass 1: {seed.tag_count} moved, 0 current, 0 failed" in seen[-1]
            old.store.set_tag("team1/app04", "2.0", seed.repositories["team1/app04"]["1.0"], {})
            _lines_until(process, " 1 moved, ", seen)
            old.store.delete_tag("team1/app01", "1.0")
            _lines_until(process, deleted_line, seen)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert "2.0" in _v2_contents(new)["team1/app04"]
        assert "1.0" in _v2_contents(new)["team1/app01"], "reported, not deleted"
        login = base64.b64encode(f"{NEW_USER}:{NEW_PASSWORD}".encode()).decode()
        auths = {"auths": {shell.hosts[NEW]: {"auth": login}}}
        (shell.cwd / "new-auth.json").write_text(json.dumps(auths), encoding="utf-8")
        shell.run(cron.group(1))
        report = json.loads((shell.cwd / "last-sync.json").read_text(encoding="utf-8"))
        assert (report["summary"]["copied"], report["summary"]["deleted_at_source"]) == (0, 1)
        out = shell.run(pruning)
        assert "deleted at source: team1/app01:1.0 -> team1/app01:1.0 deleted" in out
        assert "1.0" not in _v2_contents(new)["team1/app01"]


_SENT = re.compile(
    r'http\.request\.method=(?:PUT|POST) .*http\.request\.uri="/v2/[^"]+?/blobs/uploads/'
    r'[^"]*[?&]digest=(sha256%3A[0-9a-f]{64})[^"]*".*http\.response\.status=201'
)


def test_the_shards_mount_the_shared_bases_staged_once(
    v2_factory: V2Factory, tmp_path: Path
) -> None:
    """The "Sharding with shared bases" commands: every blob goes up once, the shared
    layers in the staging phase; the shards mount them and add up to the registry."""
    stage, run_parallel = _section("7b. Sharding with shared bases")
    assert " --bases" in stage
    assert "--shard" not in stage
    if shutil.which("parallel") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("GNU parallel is missing (tools/install-system-deps.sh installs it)")
        run_parallel = _parallel_as_loop(run_parallel.strip())
    with _old_registry() as (old, seed), run_standalone() as following:
        new = v2_factory("htpasswd")
        shell = Shell(tmp_path / "reader", old, new, following)
        shell.run(_section("1.")[0])
        shell.run(stage)
        staged = [m.group(1) for line in new.log_lines() if (m := _SENT.search(line))]
        shell.run(run_parallel)
        sent = [m.group(1) for line in new.log_lines() if (m := _SENT.search(line))]
        contents = _v2_contents(new)
        staging = contents.pop("regv1-bases")
        assert contents == _expected(seed)
        shared = {i for i in seed.tagged_images if len(seed.shared_by(i)) > 1}
        chains = [seed.chains[tip] for _, _, tip in seed.tag_pairs()]
        assert staging == {[i for i in chain if i in shared][-1] for chain in chains}
        # no blob went up twice (but the provenance artifacts' two-byte empty config,
        # which each shard sends once, its journal blind to the others')
        empty = str(EMPTY_CONFIG["digest"]).replace(":", "%3A")
        sent = [digest for digest in sent if digest != empty]
        staged = [digest for digest in staged if digest != empty]
        assert len(sent) == len(set(sent))
        assert set(staged) < set(sent)
        mounts = [
            line
            for line in new.log_lines()
            if "from=regv1-bases" in line and "http.response.status=201" in line
        ]
        assert len(mounts) >= len(shared)
