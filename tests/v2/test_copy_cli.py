"""`regv1 copy` into a real distribution 2.8, plus its failures (one error line, exit 1)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from click.testing import Result
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import build_image_chain
from regv1_runner import document, regv1
from system_tools import require_tool
from v2registry import PASSWORD, USER, V2Registry


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("REGV1_REGISTRY", "REGV1_USERNAME", "REGV1_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "docker-config").mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))


def one_error_line(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def netloc(url: str) -> str:
    return url.removeprefix("http://").rstrip("/")


def seed(standalone: Standalone, repo: str, number: int) -> None:
    standalone.store.seed(repo, "1.0", build_image_chain(3, seed=number, layer_size=150_000))


def login_args(registry: V2Registry) -> list[str]:
    return [] if registry.credentials is None else ["--dest-creds", USER, "--dest-password-stdin"]


@pytest.mark.parametrize("fixture", ["v2_open", "v2_basic"])
def test_copy_twice_and_podman_pulls_it(
    request: pytest.FixtureRequest, fixture: str, standalone: Standalone, tmp_path: Path
) -> None:
    registry: V2Registry = request.getfixturevalue(fixture)
    seed(standalone, "acme/cli", 41)
    src = f"{netloc(standalone.url)}/acme/cli:1.0"
    dst = f"docker://{registry.host}/cli/{registry.mode}/app:2.0"
    args = ["copy", src, dst, "--cache", str(tmp_path / "cache.sqlite"), "--json"]
    password = None if registry.credentials is None else PASSWORD + "\n"
    first = document(regv1(*args, *login_args(registry), input=password))
    second = document(regv1(*args, *login_args(registry), input=password))
    for key in (
        "registry",
        "repository",
        "tags",
        "layers",
        "skipped",
        "bytes",
        "seconds",
        "digest",
    ):
        assert key in first
    assert first["tags"] == ["2.0"]
    assert len(first["uploaded"]) == 3
    assert second["uploaded"] == []
    assert sorted(second["skipped"]) == sorted(first["layers"])
    assert second["bytes"] == 0
    assert second["digest"] == first["digest"]

    podman = require_tool("podman")
    run_root = Path(tempfile.mkdtemp(prefix="podman-"))
    storage = [f"--root={tmp_path / 'root'}", f"--runroot={run_root}", "--storage-driver=vfs"]
    creds = [] if registry.credentials is None else ["--creds", f"{USER}:{PASSWORD}"]
    reference = f"{registry.host}/cli/{registry.mode}/app:2.0"
    try:
        done = subprocess.run(
            [podman, *storage, "pull", "--quiet", "--tls-verify=false", *creds, reference],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env={k: v for k, v in os.environ.items() if k != "DOCKER_CONFIG"},
        )
    finally:
        shutil.rmtree(run_root, ignore_errors=True)
    assert done.returncode == 0, done.stderr


def test_an_uppercase_name_is_refused_before_the_wire(
    standalone: Standalone, v2_open: V2Registry, tmp_path: Path
) -> None:
    seed(standalone, "acme/upper", 42)
    before = len(v2_open.log_lines())
    result = regv1(
        "copy",
        f"{netloc(standalone.url)}/acme/upper:1.0",
        f"docker://{v2_open.host}/Team/App:1.0",
        "--cache",
        str(tmp_path / "c.sqlite"),
    )
    one_error_line(result, "Team/App", "not an OCI repository name")
    assert len(v2_open.log_lines()) == before


def test_a_v1_registry_as_docker_destination(standalone: Standalone, tmp_path: Path) -> None:
    seed(standalone, "acme/nov2", 43)
    result = regv1(
        "copy",
        f"{netloc(standalone.url)}/acme/nov2:1.0",
        f"docker://{netloc(standalone.url)}/acme/nov2:1.0",
        "--cache",
        str(tmp_path / "c.sqlite"),
    )
    one_error_line(result, "not an OCI/v2 registry")


def test_docker_archive_and_v1_destinations(standalone: Standalone, tmp_path: Path) -> None:
    seed(standalone, "acme/arch", 44)
    src = f"{netloc(standalone.url)}/acme/arch:1.0"
    archived = document(regv1("copy", src, f"docker-archive:{tmp_path / 'a.tar'}", "--json"))
    assert archived["tags"] == ["1.0"]
    assert (tmp_path / "a.tar").stat().st_size > 0
    mirrored = document(regv1("copy", src, f"{netloc(standalone.url)}/acme/elsewhere", "--json"))
    assert mirrored["repository"] == "acme/elsewhere"
    assert len(mirrored["layers"]) == 3
    assert mirrored["uploaded"] == []  # same registry: every layer was there already


def test_unsupported_destinations_fail_in_one_line(standalone: Standalone) -> None:
    src = f"{netloc(standalone.url)}/acme/none:1.0"
    one_error_line(regv1("copy", src, "dir:/tmp/x"), "dir:/tmp/x")
    one_error_line(regv1("copy", src, "docker://"), "docker://[HOST[:PORT]/]REPO[:TAG]")
    one_error_line(regv1("copy", src, "docker://team/app:"), "empty tag")


def test_dest_authfile_and_a_refusal_naming_the_destination(
    standalone: Standalone, v2_basic: V2Registry, tmp_path: Path
) -> None:
    """The destination's login from its own auth file; a wrong one is named, never shown."""
    seed(standalone, "acme/authfile", 45)
    src = f"{netloc(standalone.url)}/acme/authfile:1.0"
    dst = f"docker://{v2_basic.host}/cli/authfile/app:1.0"
    cache = ["--cache", str(tmp_path / "c.sqlite")]
    auth = tmp_path / "auth.json"
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    auth.write_text(json.dumps({"auths": {v2_basic.host: {"auth": token}}}))
    done = document(regv1("copy", src, dst, "--dest-authfile", str(auth), "--json", *cache))
    assert len(done["uploaded"]) == 3
    assert [e for e in standalone.log.entries if e.authorization is not None] == []
    refused = regv1("copy", src, dst, "--dest-creds", f"{USER}:not-it", *cache)
    line = one_error_line(
        refused, f"destination {v2_basic.host}: sent credentials of {USER!r} from --dest-creds"
    )
    assert "not-it" not in line
    anonymous = regv1("copy", src, dst, "--dest-no-creds", *cache)
    one_error_line(anonymous, f"destination {v2_basic.host}: no credentials were sent")
