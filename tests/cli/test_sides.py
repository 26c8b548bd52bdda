"""The two sides of copy, mirror and migrate: skopeo's per-side options, over real sockets.

Each side's login goes to its own host only (the emulators' request logs hold a
fingerprint of every ``Authorization`` they got); ``http://`` names a plain-http
source; a loopback host without a scheme is probed once and left on http; the
old one-registry spellings still work with a warning; unsupported pairs fail in
one line.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import assert_one_line_failure, chain, netloc
from docker_registry_v1.core.tls import TLSConfig, choose_scheme, clear_scheme_cache
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.pytest_plugin import EmulatorFactory
from docker_registry_v1.emulator.requestlog import fingerprint
from regv1_runner import document, regv1

READER = ("reader", "r3ad-only")
WRITER = ("writer", "wr1te-pw")


def basic(user: tuple[str, str]) -> str:
    return f"Basic {fingerprint(':'.join(user))}"


def authfile(path: Path, host: str, user: tuple[str, str]) -> Path:
    """A podman-style auth file holding ``user``'s login for ``host``."""
    token = base64.b64encode(":".join(user).encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    return path


@pytest.fixture
def two_private(emulator_factory: EmulatorFactory) -> tuple[Standalone, Standalone]:
    """A source only ``reader`` can read ``team/app`` on, and a destination for ``writer``."""
    source = emulator_factory(users=dict([READER]), private=["team/app"])
    target = emulator_factory(users=dict([WRITER]))
    assert isinstance(source, Standalone)
    assert isinstance(target, Standalone)
    source.store.seed("team/app", "1.0", chain(2, seed=7))
    return source, target


def test_each_side_gets_its_own_login_and_no_other(
    two_private: tuple[Standalone, Standalone], tmp_path: Path
) -> None:
    source, target = two_private
    dest_file = authfile(tmp_path / "dest.json", netloc(target.url), WRITER)
    result = regv1(
        "mirror",
        f"{netloc(source.url)}/team/app:1.0",
        f"{netloc(target.url)}/team/copy",
        "--src-creds",
        READER[0],
        "--src-password-stdin",
        "--dest-authfile",
        str(dest_file),
        "--json",
        input=READER[1] + "\n",
    )
    document(result)
    assert target.store.tags("team/copy") == {"1.0": chain(2, seed=7)[-1].id}
    assert source.log.authorizations() == {basic(READER)}
    assert target.log.authorizations() == {basic(WRITER)}
    assert READER[1] not in result.output
    assert WRITER[1] not in result.output


def test_a_source_authfile_and_creds_with_the_password(
    two_private: tuple[Standalone, Standalone], tmp_path: Path
) -> None:
    source, target = two_private
    src_file = authfile(tmp_path / "src.json", netloc(source.url), READER)
    result = regv1(
        "copy",
        f"{netloc(source.url)}/team/app:1.0",
        f"{netloc(target.url)}/team/other",
        "--src-authfile",
        str(src_file),
        "--dest-creds",
        ":".join(WRITER),
        "--json",
    )
    assert document(result)["repository"] == "team/other"
    assert source.log.authorizations() == {basic(READER)}
    assert target.log.authorizations() == {basic(WRITER)}


def test_authfile_for_both_sides(
    two_private: tuple[Standalone, Standalone], tmp_path: Path
) -> None:
    source, target = two_private
    both = tmp_path / "both.json"
    pairs = {netloc(source.url): READER, netloc(target.url): WRITER}
    auths = {
        host: {"auth": base64.b64encode(":".join(user).encode()).decode()}
        for host, user in pairs.items()
    }
    both.write_text(json.dumps({"auths": auths}))
    src_ref = f"{netloc(source.url)}/team/app:1.0"
    target_ref = f"{netloc(target.url)}/team/b"
    document(regv1("mirror", src_ref, target_ref, "--authfile", str(both), "--json"))
    assert source.log.authorizations() == {basic(READER)}
    assert target.log.authorizations() == {basic(WRITER)}


def test_a_refusal_names_the_side_and_the_credentials(
    two_private: tuple[Standalone, Standalone],
) -> None:
    source, target = two_private
    src_ref = f"{netloc(source.url)}/team/app:1.0"
    dst_ref = f"{netloc(target.url)}/team/c"
    anonymous = regv1("mirror", src_ref, dst_ref, "--dest-creds", ":".join(WRITER))
    assert_one_line_failure(
        anonymous, f"source {netloc(source.url)}: no credentials were sent", "--src-creds"
    )
    wrong = regv1("mirror", src_ref, dst_ref, "--src-creds", ":".join(READER))
    assert_one_line_failure(
        wrong,
        f"destination {netloc(target.url)}: no credentials were sent",
    )
    bad = regv1("mirror", src_ref, dst_ref, "--src-creds", "reader:wrong", "--dest-no-creds")
    assert_one_line_failure(
        bad, f"source {netloc(source.url)}: sent credentials of 'reader' from --src-creds"
    )
    assert ":wrong" not in bad.stderr


def test_only_one_side_reads_stdin(standalone: Standalone) -> None:
    ref = f"{netloc(standalone.url)}/team/app:1.0"
    result = regv1(
        "mirror",
        ref,
        f"{netloc(standalone.url)}/team/b",
        "--src-creds",
        "a",
        "--src-password-stdin",
        "--dest-creds",
        "b",
        "--dest-password-stdin",
    )
    assert result.exit_code == 1
    assert "only one side can read its password from stdin" in result.stderr
    no_password = regv1("mirror", ref, f"{netloc(standalone.url)}/team/b", "--dest-creds", "bob")
    assert_one_line_failure(no_password, "--dest-creds bob needs a password: --dest-password-stdin")
    no_user = regv1("mirror", ref, f"{netloc(standalone.url)}/team/b", "--dest-password-stdin")
    assert no_user.exit_code == 1
    assert "--dest-password-stdin needs --dest-creds USER" in no_user.stderr


def test_http_source_for_migrate_and_copy(standalone: Standalone, tmp_path: Path) -> None:
    images = chain(2, seed=3)
    standalone.store.seed("team/app", "1.0", images)
    base = standalone.url.rstrip("/")
    assert base.startswith("http://127.0.0.1:")
    migrated = document(regv1("migrate", base, f"oci:{tmp_path / 'm'}", "--json"))
    assert migrated["summary"]["copied"] == 1
    copied = document(
        regv1("copy", f"{base}/team/app:1.0", f"oci:{tmp_path / 'c'}:team/app:1.0", "--json")
    )
    assert copied["tags"] == ["team/app:1.0"]
    index = json.loads((tmp_path / "c" / "index.json").read_text())
    refs = [
        m["annotations"]["org.opencontainers.image.ref.name"]
        for m in index["manifests"]
        if "artifactType" not in m  # the v1 provenance: an untagged entry
    ]
    assert refs == ["team/app:1.0"]
    one_repo = document(regv1("inventory", f"{base}/team/app", "--json"))
    assert one_repo["totals"]["tags"] == 1
    pulled = document(
        regv1("pull", f"{base}/team/app:1.0", "-o", str(tmp_path / "a.tar"), "--json")
    )
    assert pulled["registry"].startswith("http://127.0.0.1:")
    with tarfile.open(tmp_path / "a.tar") as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
    # the archive names the image, not where it came from: no scheme in RepoTags
    assert manifest[0]["RepoTags"] == [f"{netloc(base)}/team/app:1.0"]


def test_a_bare_tls_verify_flag_means_true(standalone: Standalone, tmp_path: Path) -> None:
    """As in skopeo: ``--src-tls-verify`` alone does not take the next argument as its value."""
    standalone.store.seed("team/app", "1.0", chain(1))
    planned = regv1(
        "migrate", "--src-tls-verify", netloc(standalone.url), f"oci:{tmp_path / 'l'}", "--dry-run"
    )
    assert planned.exit_code == 0, planned.output
    assert "tls-verify" not in planned.stderr


class _CountingPlainServer:
    """A plain TCP server on loopback answering anything with an HTTP 400, counting connections."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    def close(self) -> None:
        # closing alone leaves accept() blocked in the thread until the join gives up
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(5)


@pytest.fixture
def plain_server() -> Iterator[_CountingPlainServer]:
    server = _CountingPlainServer()
    yield server
    server.close()


def test_loopback_without_scheme_falls_back_to_http_once(
    plain_server: _CountingPlainServer,
) -> None:
    clear_scheme_cache()
    assert choose_scheme("127.0.0.1", plain_server.port, TLSConfig()) == "http"
    assert choose_scheme("127.0.0.1", plain_server.port, TLSConfig()) == "http"
    assert plain_server.connections == 1  # decided once per host:port
    assert choose_scheme("registry.example.com", None, TLSConfig()) == "https"  # no probe
    assert plain_server.connections == 1


def test_an_emulator_named_without_scheme_is_reached_over_http(standalone: Standalone) -> None:
    standalone.store.seed("team/app", "1.0", chain(1))
    assert netloc(standalone.url).startswith("127.0.0.1:")
    found = document(regv1("tags", f"{netloc(standalone.url)}/team/app", "--json"))
    assert chain(1)[-1].id in json.dumps(found)
    assert len(standalone.log.entries) >= 1  # the probe never reaches the application


def test_old_spellings_still_work_with_a_warning(
    two_private: tuple[Standalone, Standalone], tmp_path: Path
) -> None:
    source, target = two_private
    src = netloc(source.url)
    migrated = regv1(
        "migrate",
        src,
        f"oci:{tmp_path / 'layout'}",
        "--creds",
        ":".join(READER),
        "--plain-http",
        "--json",
    )
    assert migrated.exit_code == 0, migrated.output
    assert "warning: --creds is deprecated; use --src-creds" in migrated.stderr
    assert "warning: --plain-http is deprecated here" in migrated.stderr
    assert source.log.authorizations() == {basic(READER)}
    mirrored = regv1(
        "mirror",
        f"{src}/team/app:1.0",
        f"{netloc(target.url)}/team/old",
        "--src-creds",
        ":".join(READER),
        "-u",
        WRITER[0],
        "--password-stdin",
        input=WRITER[1] + "\n",
    )
    assert mirrored.exit_code == 0, mirrored.output
    assert "--username/--password-stdin on mirror are deprecated" in mirrored.stderr
    assert target.log.authorizations() == {basic(WRITER)}
    assert source.log.authorizations() == {basic(READER)}
    inventory = regv1("inventory", f"{src}/team/app", "--concurrency", "2", "--src-creds", "x")
    assert inventory.exit_code == 1  # inventory is one-sided: no --src-creds
    listed = regv1(
        "inventory",
        f"{src}/team/app",
        "--concurrency",
        "2",
        "-u",
        READER[0],
        "--json",
        env={"REGV1_PASSWORD": READER[1]},
    )
    assert listed.exit_code == 0, listed.output
    assert "warning: --concurrency is deprecated; use -j/--jobs" in listed.stderr


@pytest.mark.parametrize("command", ["pull", "copy", "inventory", "migrate"])
def test_jobs_is_the_one_name(command: str) -> None:
    text = regv1(command, "--help").stdout
    assert "-j, --jobs N" in text
    assert "--concurrency" not in text


@pytest.mark.parametrize("dst", ["oci:/tmp/nowhere", "docker-archive:/tmp/a.tar"])
def test_a_docker_source_fails_in_one_line(dst: str) -> None:
    """copy reads v1, docker-archive: and oci:; a v2 registry is no source (yet)."""
    result = regv1("copy", "docker://localhost:5000/team/app:1.0", dst)
    assert_one_line_failure(result, "copying from docker", "is not supported")


def test_another_transport_is_named(standalone: Standalone) -> None:
    ref = f"{netloc(standalone.url)}/team/app:1.0"
    assert_one_line_failure(regv1("copy", ref, "containers-storage:app"), "containers-storage:")
