"""`regv1 migrate --config FILE.yaml`: two v1 sources (one with users, one without) into a
real distribution registry and an OCI layout, from one file; its checks, with file and
line, before any request; and the example of docs/migration.md, run as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from docker_registry_v1 import OCILayout
from docker_registry_v1.cli.migrate import migrate
from docker_registry_v1.cli.migrate_config import MAX_BYTES, load_config
from docker_registry_v1.emulator import Breakage, Standalone
from docker_registry_v1.emulator.server import run_standalone
from docker_registry_v1.formats.provenance import is_fallback_tag
from migrate_support import SeededRegistry, seed_registry
from ports import unused_port
from regv1_runner import regv1
from v2.v2registry import PASSWORD as NEW_PASSWORD
from v2.v2registry import USER as NEW_USER
from v2.v2registry import V2Registry, run_registry

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "alice", "s3cret-b"


def _seed(emulator: Standalone, seed: int, *, private: bool = False) -> SeededRegistry:
    """Three repositories (library/base00, team1/app01, team2/app02), tags 1.0 and latest."""
    found = seed_registry(
        emulator.store, repos=3, tags_per_repo=2, base_chains=1, layer_sizes=(512,), seed=seed
    )
    if private:
        for name in found.repositories:
            emulator.store.set_access(name, "private")
    return found


def _netloc(emulator: Standalone) -> str:
    return emulator.url.removeprefix("http://").rstrip("/")


def _v2_contents(registry: V2Registry, auth: tuple[str, str] | None = None) -> dict[str, set[str]]:
    """repository → tags, as distribution lists them, without the ``sha256-<hex>`` tags of
    the v1 provenance's referrers fallback."""
    with httpx.Client(base_url=registry.url, auth=auth, timeout=30) as client:
        names = client.get("/v2/_catalog", params={"n": 1000}).raise_for_status().json()
        return {
            name: {
                tag
                for tag in client.get(f"/v2/{name}/tags/list").raise_for_status().json()["tags"]
                if not is_fallback_tag(tag)
            }
            for name in names["repositories"] or []
        }


def _documents(text: str) -> list[dict[str, object]]:
    """The JSON documents printed one after another (one per pair)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        while text[at].isspace():
            at += 1
        document, at = decoder.raw_decode(text, at)
        found.append(document)
    return found


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Default journals go under the test's directory."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "docker-registry-v1"


@pytest.fixture
def sources() -> Iterator[tuple[Standalone, SeededRegistry, Standalone, SeededRegistry]]:
    """An anonymous v1 registry and one whose repositories need alice's login."""
    with run_standalone() as open_one, run_standalone(users={USER: PASSWORD}) as private:
        yield open_one, _seed(open_one, 31), private, _seed(private, 32, private=True)


def test_every_tag_lands_where_the_file_says_and_each_login_goes_to_its_own_host(
    sources: tuple[Standalone, SeededRegistry, Standalone, SeededRegistry],
    tmp_path: Path,
    state: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    open_one, seed_a, private, seed_b = sources
    monkeypatch.setenv("B_PASSWORD", PASSWORD)
    config = tmp_path / "conf" / "migrations.yaml"
    config.parent.mkdir()
    with run_registry("none", tmp_path / "v2") as v2:
        config.write_text(
            f"""\
version: 1
migrations:
  - source:
      registry: http://{_netloc(private)}
      creds:
        username: {USER}
        password-env: B_PASSWORD
    destinations:
      - registry: docker://{v2.host}/b
        journal: b.sqlite
    tags: '1\\.0'
    jobs: 2
  - source: http://{_netloc(open_one)}
    destinations:
      - docker://{v2.host}/a
      - oci:layout
    include: ['^team']
    rename: ['^team1/=one/']
""",
            encoding="utf-8",
        )
        renamed = {
            re.sub(r"^team1/", "one/", repo): set(tags)
            for repo, tags in seed_a.repositories.items()
            if repo.startswith("team")
        }
        expected = {f"a/{repo}": tags for repo, tags in renamed.items()} | {
            f"b/{repo}": {"1.0"} for repo in seed_b.repositories
        }
        layout = tmp_path / "conf" / "layout"

        planned = regv1("migrate", "--config", str(config), "--dry-run", "--json")
        assert planned.exit_code == 0, planned.output
        plans = _documents(planned.stdout)
        assert [len(p["plan"]) for p in plans] == [  # type: ignore[arg-type]
            len(seed_b.repositories),
            sum(map(len, renamed.values())),
            sum(map(len, renamed.values())),
        ]
        destinations = {t["destination"] for p in plans for t in p["plan"]}  # type: ignore[attr-defined]
        assert {d for d in destinations if d.startswith("b/")} == {
            f"b/{repo}:1.0" for repo in seed_b.repositories
        }
        assert _v2_contents(v2) == {}, "a dry run sends nothing"

        done = regv1("migrate", "--config", str(config))
        assert done.exit_code == 0, done.output
        assert _v2_contents(v2) == expected
        again = regv1("migrate", "--config", str(config), "--format", "json")
        assert again.exit_code == 0, again.output

    statuses = {t["status"] for d in _documents(again.stdout) for t in d["tags"]}  # type: ignore[attr-defined]
    assert statuses == {"current"}, "each pair found its own journal"
    headings = [line for line in done.stdout.splitlines() if line.startswith("pair ")]
    assert headings == [
        f"pair 1/3: http://{_netloc(private)} -> docker://{v2.host}/b",
        f"pair 2/3: http://{_netloc(open_one)} -> docker://{v2.host}/a",
        f"pair 3/3: http://{_netloc(open_one)} -> oci:{layout}",
    ]
    assert set(OCILayout(layout).refs()) == {
        f"{repo}:{tag}" for repo, tags in renamed.items() for tag in tags
    }
    # alice's login went to her registry (run first) and never to the anonymous one after it
    assert "authorization" not in {h for e in open_one.log.entries for h in e.headers}
    asked = [e for e in private.log.entries if e.path != "/v1/_ping"]
    assert asked
    assert all("authorization" in e.headers for e in asked), "alice's login, on every request"
    assert PASSWORD not in done.output + planned.output
    assert (tmp_path / "conf" / "b.sqlite").is_file()
    assert len(list(state.glob("migrate-*.sqlite"))) == 2  # one per pair of the second source


def test_a_pair_that_cannot_start_leaves_the_others_and_the_exit_status_says_so(
    tmp_path: Path, state: Path
) -> None:
    closed = f"http://127.0.0.1:{unused_port()}"
    config = tmp_path / "m.yaml"
    with run_standalone() as emulator:
        seed = _seed(emulator, 33)
        config.write_text(
            f"migrations:\n"
            f"  - source: {closed}\n"
            f"    destinations: [oci:first]\n"
            f"  - source: http://{_netloc(emulator)}\n"
            f"    destinations: [oci:second]\n",
            encoding="utf-8",
        )
        partly = regv1("migrate", "--config", str(config), "--retry-times", "0")
        emulator.store.break_image(seed.repositories["team1/app01"]["1.0"], Breakage.IN_PROGRESS)
        broken = tmp_path / "broken.yaml"
        broken.write_text(
            f"migrations:\n"
            f"  - source: http://{_netloc(emulator)}\n"
            f"    destinations: [oci:copy-1, oci:copy-2]\n"
            f"    include: ['^team']\n",
            encoding="utf-8",
        )
        failed_tags = regv1("migrate", "--config", str(broken), "--format", "plain")
    assert failed_tags.exit_code == 2, failed_tags.output
    lines = failed_tags.stdout.splitlines()
    assert sum(line.startswith("pair ") for line in lines) == 2, "the second pair ran too"
    failed = [line for line in lines if line.startswith("failed: ")]
    assert len(failed) == 4  # 1.0 and latest (the same image), in each pair
    assert all(line.startswith("failed: team1/app01:") for line in failed), failed
    for copy in ("copy-1", "copy-2"):
        assert set(OCILayout(tmp_path / copy).refs()) == {
            f"team2/app02:{tag}" for tag in seed.repositories["team2/app02"]
        }
    assert partly.exit_code == 2, partly.output
    errors = partly.stderr.splitlines()
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {closed} -> oci:{tmp_path / 'first'}: ")
    assert set(OCILayout(tmp_path / "second").refs()) == {
        f"{repo}:{tag}" for repo, tag, _ in seed.tag_pairs()
    }
    config.write_text(
        f"migrations:\n  - source: {closed}\n    destinations: [oci:first]\n", encoding="utf-8"
    )
    nothing = regv1("migrate", "--config", str(config), "--retry-times", "0")
    assert nothing.exit_code == 1, nothing.output
    assert nothing.stderr.startswith("error: ")
    assert "Traceback" not in nothing.output


_GOOD = """\
version: 1
migrations:
  - source: localhost:5000
    destinations:
      - docker://localhost:5001/x
"""

BAD_FILES = {
    "misspelt key": (
        _GOOD + "    exclud: ['^tmp/']\n",
        6,
        "unknown key 'exclud' (did you mean 'exclude'?)",
    ),
    "wrong type": (_GOOD + "    jobs: eight\n", 6, "jobs: expected a whole number, not the text"),
    "out of range": (_GOOD + "    jobs: 0\n", 6, "jobs: 0 is not in the range 1<=x<=64."),
    "bad regex in a list": (
        _GOOD + "    include:\n      - '^team1/'\n      - '(unclosed'\n",
        8,
        "include: '(unclosed' is not a regular expression",
    ),
    "bad rate": (
        "migrations:\n  - source:\n      registry: localhost:5000\n      rate: 0\n"
        "    destinations: [oci:x]\n",
        4,
        "rate: 0.0 is not in the range x>0.",
    ),
    "unknown destination kind": (
        _GOOD + "      - s3://bucket/images\n",
        6,
        "destination: 's3://bucket/images' is of an unknown kind",
    ),
    "unsupported transport": (
        _GOOD + "      - dir:/srv/images\n",
        6,
        "the dir: transport is not supported",
    ),
    "duplicate destination": (
        _GOOD + "      - docker://localhost:5001/x/\n",
        6,
        "destination 'docker://localhost:5001/x/' is also on line 5",
    ),
    "duplicate key": (
        _GOOD + "    tags: 'a'\n    tags: 'b'\n",
        7,
        "'tags' given twice (first on line 6)",
    ),
    "anchor": (
        _GOOD + "    include: &mine ['^a/']\n    exclude: *mine\n",
        6,
        "YAML anchors and aliases (&, *) are not accepted",
    ),
    "object tag": (
        _GOOD + "    tags: !!python/object/apply:os.system ['true']\n",
        6,
        "YAML tags (!…) are not accepted",
    ),
    "unset password variable": (
        "migrations:\n  - source:\n      registry: localhost:5000\n      creds:\n"
        "        username: reader\n        password-env: REGV1_CONFIG_TEST_UNSET\n"
        "    destinations: [oci:x]\n",
        6,
        "password-env: $REGV1_CONFIG_TEST_UNSET is not set (or empty)",
    ),
    "two passwords": (
        "migrations:\n  - source:\n      registry: localhost:5000\n      creds:\n"
        "        username: reader\n        password: a\n        password-file: b\n"
        "    destinations: [oci:x]\n",
        5,
        "creds: give one of password-env, password-file or password",
    ),
    "one journal, two destinations": (
        _GOOD + "      - oci:x\n    journal: j.sqlite\n",
        7,
        "journal: several destinations cannot share one journal",
    ),
    "login for a layout": (
        _GOOD + "      - registry: oci:x\n        tls-verify: false\n",
        7,
        "tls-verify: only for registry destinations, not oci:DIR",
    ),
    "v2 source": (
        "migrations:\n  - source: docker://localhost:5000\n    destinations: [oci:x]\n",
        2,
        "migrate reads a v1 registry",
    ),
    "bad age": (_GOOD + "    newer-than: yesterday\n", 6, "'yesterday' is not an age"),
    "bad rename": (_GOOD + "    rename: ['no-equals']\n", 6, "is not REGEX=REPLACEMENT"),
    "bad choice": (
        _GOOD + "    manifest-format: schema1\n",
        6,
        "manifest-format: 'schema1' is not one of 'docker', 'oci'.",
    ),
    "not a boolean": (_GOOD + "    no-library: maybe\n", 6, "no-library: expected true or false"),
    "create-repo-cmd into a layout": (
        "migrations:\n  - source: localhost:5000\n    destinations: [oci:x]\n"
        "    create-repo-cmd: 'true {repo}'\n",
        4,
        "create-repo-cmd: only for docker:// destinations",
    ),
    "missing cert dir": (
        _GOOD.replace(
            "      - docker://localhost:5001/x\n",
            "      - registry: docker://localhost:5001/x\n        cert-dir: no-such-dir\n",
        ),
        6,
        "cert-dir: Directory",
    ),
    "no destinations": (
        "migrations:\n  - source: localhost:5000\n    include: [a]\n",
        2,
        "a migration needs 'destinations'",
    ),
    "broken YAML": (_GOOD + "    include: ['a'\n", 7, "not valid YAML"),
    "journal in defaults": (
        "defaults:\n  journal: j.sqlite\n" + _GOOD,
        2,
        "journal: each pair has its own",
    ),
    "bad default": (
        "defaults:\n  exclude: ['[']\n" + _GOOD,
        2,
        "exclude: '[' is not a regular expression",
    ),
    "infinite rate": (
        _GOOD + "      - registry: docker://localhost:5002\n        rate: .inf\n",
        7,
        "rate: expected a finite number, not inf",
    ),
    "nested too deep": (_GOOD + "    include: " + "[" * 40 + "]" * 40 + "\n", 6, "nested more"),
    "version": ("version: 2\n" + _GOOD.partition("\n")[2], 1, "version: only version 1 exists"),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_a_bad_file_is_one_error_line_with_its_line_number(case: str, tmp_path: Path) -> None:
    text, line, message = BAD_FILES[case]
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    result = regv1("migrate", "--config", str(path))
    assert result.exit_code == 1, result.output
    (error,) = result.stderr.splitlines()
    prefix = f"error: {path}:{line}: "
    assert error.startswith(prefix), error
    assert message in error.removeprefix(prefix), error


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(_GOOD + "#" * MAX_BYTES + "\n", encoding="utf-8")
    result = regv1("migrate", "--config", str(path))
    assert result.exit_code == 1
    assert result.stderr == f"error: {path}: larger than 1024 KiB; is it the right file?\n"


@pytest.mark.parametrize(
    "extra",
    [
        ["localhost:5000", "oci:x"],
        ["--include", "^a/"],
        ["--src-creds", "reader:pw"],
        ["-j", "4"],
        ["--dest-tls-verify", "false"],
    ],
    ids=["arguments", "rule", "login", "jobs", "side TLS"],
)
def test_config_does_not_mix_with_what_it_replaces(extra: list[str], tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(_GOOD, encoding="utf-8")
    result = regv1("migrate", "--config", str(path), *extra)
    assert result.exit_code == 1, result.output
    assert "--config cannot be combined with" in result.stderr
    assert "Traceback" not in result.output


def test_passwords_defaults_and_destination_settings_become_the_flags_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "secret.txt").write_text("from-a-file\nsecond line ignored\n", encoding="utf-8")
    monkeypatch.setenv("NEW_SECRET", "from-the-env")
    path = tmp_path / "m.yaml"
    path.write_text(
        "defaults:\n"
        "  exclude: ['^tmp/']\n"
        "  jobs: 4\n"
        "migrations:\n"
        "  - source:\n"
        "      registry: localhost:5000\n"
        "      creds: {username: reader, password-file: secret.txt}\n"
        "    destinations:\n"
        "      - registry: docker://localhost:5001\n"
        "        creds: {username: mover, password-env: NEW_SECRET}\n"
        "        tls-verify: false\n"
        "        rate: 2.5\n"
        "        manifest-format: oci\n"
        "      - registry: localhost:5002/v1\n"
        "        creds: {username: mover, password: written-here}\n"
        "        journal: v1.sqlite\n"
        "    last: 3\n"
        "    jobs: 2\n",
        encoding="utf-8",
    )
    ctx = migrate.make_context("migrate", ["--config", str(path), "--dry-run"])
    with ctx:
        first, second = load_config(path, ctx)
    assert first.params["src_creds"] == second.params["src_creds"] == "reader:from-a-file"
    assert first.params["dest_creds"] == "mover:from-the-env"
    assert second.params["dest_creds"] == "mover:written-here"
    assert (first.params["dest_tls_verify"], second.params["dest_tls_verify"]) == (False, True)
    assert (first.params["dest_rate"], second.params["dest_rate"]) == (2.5, None)
    assert (first.params["manifest_format"], second.params["manifest_format"]) == ("oci", None)
    assert (first.params["journal_path"], second.params["journal_path"]) == (
        None,
        tmp_path / "v1.sqlite",
    )
    assert first.params["last"] == "3"
    assert first.params["jobs"] == 2, "the migration's own key wins over defaults"
    assert first.params["exclude"] == ("^tmp/",)
    assert first.params["dry_run"] is True, "the command line's other flags apply"
    assert first.params["repositories_in_flight"] == 4, "unset keys keep the flag's default"
    assert "from-" not in repr(first)
    assert capsys.readouterr().err == (
        f"warning: {path}:15: a password written in the file is discouraged; "
        "use password-env or password-file\n"
    )


def _doc_blocks() -> list[str]:
    page = (ROOT / "docs" / "migration.md").read_text(encoding="utf-8")
    match = re.search(r"^## 12\. Several sources and destinations.*?(?=^## )", page, re.M | re.S)
    assert match is not None, "docs/migration.md has the --config section"
    return re.findall(r"^```sh\n(.*?)^```", match.group(0), re.MULTILINE | re.DOTALL)


def test_the_documented_example_file_runs_as_written(tmp_path: Path) -> None:
    """The page's blocks in bash, its placeholder hosts replaced by two emulators (the old
    one with user reader and private team2/ repositories) and distribution with htpasswd."""
    blocks = _doc_blocks()
    assert len(blocks) == 2
    assert "regv1 migrate --config migrations.yaml --dry-run" in blocks[1]
    old_password = "0ld-s3cret"
    with (
        run_standalone(users={"reader": old_password}) as old,
        run_standalone() as following,
        run_registry("htpasswd", tmp_path / "v2") as new,
    ):
        seed_old = _seed(old, 41)
        for name in seed_old.repositories:
            if name.startswith("team2/"):
                old.store.set_access(name, "private")
        seed_next = _seed(following, 42)
        hosts = {
            "old.example:5000": _netloc(old),
            "new.example:5000": new.host,
            "next.example:5000": _netloc(following),
        }
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("REGV1_", "REGISTRY_AUTH_FILE")) and key != "CI"
        }
        env.update(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            HOME=str(tmp_path),
            XDG_STATE_HOME=str(tmp_path / "state"),
            XDG_RUNTIME_DIR=str(tmp_path / "runtime"),
            DOCKER_CONFIG=str(tmp_path / "docker-config"),
            OLD_PASSWORD=old_password,
            NEW_PASSWORD=NEW_PASSWORD,
        )
        outputs = []
        for block in blocks:
            script = block
            for name, host in hosts.items():
                script = script.replace(name, host)
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, f"{script}\n{done.stderr}"
            assert "Traceback" not in done.stderr
            outputs.append(done.stdout)
        contents = _v2_contents(new, (NEW_USER, NEW_PASSWORD))
    legacy = {
        repo.replace("team1/", "apps/", 1): set(tags)
        for repo, tags in seed_old.repositories.items()
        if repo.startswith(("team1/", "team2/"))
    }
    assert contents == {f"legacy/{r}": t for r, t in legacy.items()} | {
        f"next/{repo}": {"1.0"} for repo in seed_next.repositories
    }
    assert set(OCILayout(tmp_path / "legacy-layout").refs()) == {
        f"{repo}:{tag}" for repo, tags in legacy.items() for tag in tags
    }
    assert "pair 3/3: " in outputs[1]
    assert old_password not in "".join(outputs)
