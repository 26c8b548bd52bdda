"""`regv1 migrate`/`copy` from an http-only v1 source into distribution over https, per side.

The source is the emulator (plain http only, like most legacy v1 registries), named
``http://127.0.0.1:PORT`` or bare ``127.0.0.1:PORT`` (a loopback host: https is tried
first, then plain http). The destination is distribution serving the test CA's
certificate as ``localhost:PORT`` (`tls_support`), reached with ``--dest-cert-dir``
or ``--dest-tls-verify=false``; without the right CA the command fails in one
``error:`` line that names the destination. Logins are per side (``--src-creds``,
``--dest-creds``, ``--src-authfile``, ``--dest-authfile``, ``--authfile``), and the
logs of both servers show that each password went to its own side only.

What regv1 did is read back without regv1: the registry's own ``_catalog`` and
``tags/list`` answers and ``skopeo inspect --cert-dir``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.requestlog import fingerprint
from docker_registry_v1.emulator.seed import build_image_chain
from docker_registry_v1.emulator.server import run_standalone
from migrate_support import SeededRegistry, seed_registry
from regv1_runner import regv1
from tls_clients import catalog, manifest_digest, skopeo_inspect, tag_list
from tls_support import TLSMaterial
from v2registry import PASSWORD, USER, V2Registry

DEST_CREDS = f"{USER}:{PASSWORD}"
SRC_USER, SRC_PASSWORD = "alice", "s3cret"
SRC_CREDS = f"{SRC_USER}:{SRC_PASSWORD}"
PRIVATE = "acme/private"
"""The source repository only `SRC_USER` may read."""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No login or trust from the user's own files or variables: each test names its own."""
    for name in ("REGV1_REGISTRY", "REGV1_USERNAME", "REGV1_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)  # the system's roots only, as users have
    (tmp_path / "docker-config").mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "no-auth.json"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def legacy() -> Iterator[tuple[Standalone, SeededRegistry]]:
    """An anonymous http-only v1 registry with 4 repositories of 2 tags on one base chain."""
    with run_standalone() as emulator:
        yield emulator, seed_registry(emulator.store, repos=4, tags_per_repo=2, base_chains=1)


@pytest.fixture
def private_source() -> Iterator[Standalone]:
    """An http-only v1 registry whose `PRIVATE` repository needs `SRC_USER`'s Basic login."""
    with run_standalone(users={SRC_USER: SRC_PASSWORD}, private=[PRIVATE]) as emulator:
        emulator.store.seed(PRIVATE, "1.0", build_image_chain(3, seed=77, layer_size=40_000))
        yield emulator


def document(result: Result) -> Any:
    """The ``--json`` document of a run that succeeded and printed no password."""
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    for secret in ("s3cret", "decoy"):  # every password in this file holds one of them
        assert secret not in result.output
    return json.loads(result.stdout)


def netloc(emulator: Standalone) -> str:
    return emulator.url.removeprefix("http://")


def one_error_line(result: Result) -> str:
    """The single ``error:`` line of an expected failure (exit 1, no traceback)."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert [line for line in result.stdout.splitlines() if line.startswith("error:")] == []
    return lines[0]


def auth_file(path: Path, entries: dict[str, str]) -> Path:
    """A podman ``auth.json``: ``{"auths": {HOST:PORT: {"auth": base64(user:password)}}}``."""
    auths = {
        host: {"auth": base64.b64encode(pair.encode()).decode()} for host, pair in entries.items()
    }
    path.write_text(json.dumps({"auths": auths}))
    return path


def check_migrated(
    registry: V2Registry, seed: SeededRegistry, report: dict[str, Any], tls: TLSMaterial, home: Path
) -> None:
    """The registry holds exactly the seeded repositories and tags; skopeo reads one back."""
    outcomes = {tag["destination"]: tag for tag in report["tags"]}
    assert set(outcomes) == {f"{repo}:{tag}" for repo, tag, _ in seed.tag_pairs()}
    assert {tag["status"] for tag in report["tags"]} == {"copied"}
    assert catalog(registry) == sorted(seed.repositories)
    for repo, tags in seed.repositories.items():
        assert tag_list(registry, repo) == sorted(tags)
    repo, tag, tip = seed.tag_pairs()[-1]
    inspected = skopeo_inspect(
        home,
        f"docker://{registry.host}/{repo}:{tag}",
        "--cert-dir",
        str(tls.ca_dir),
        "--creds",
        DEST_CREDS,
    )
    assert inspected["Digest"] == outcomes[f"{repo}:{tag}"]["digest"]
    assert inspected["Digest"] == manifest_digest(registry, repo, tag)
    assert len(inspected["Layers"]) == len(seed.chains[tip])


@pytest.mark.parametrize("scheme", ["http://", ""], ids=["http-source", "bare-loopback-source"])
def test_migrate_an_http_v1_registry_into_https_distribution_with_the_cert_dir(
    legacy: tuple[Standalone, SeededRegistry],
    v2_tls_basic: V2Registry,
    tls_material: TLSMaterial,
    tmp_path: Path,
    scheme: str,
) -> None:
    emulator, seed = legacy
    report = document(
        regv1(
            "migrate",
            f"{scheme}{netloc(emulator)}",
            f"docker://{v2_tls_basic.host}",
            "--dest-cert-dir",
            str(tls_material.ca_dir),
            "--dest-creds",
            DEST_CREDS,
            "--journal",
            str(tmp_path / "journal.sqlite"),
            "--json",
        )
    )
    check_migrated(v2_tls_basic, seed, report, tls_material, tmp_path / "skopeo")
    # The source answered over plain http: every tag list came from the emulator itself.
    listed = {e.path for e in emulator.log.entries if e.path.endswith("/tags") and e.status == 200}
    assert listed == {f"/v1/repositories/{repo}/tags" for repo in seed.repositories}


def test_migrate_and_copy_with_dest_tls_verify_false(
    legacy: tuple[Standalone, SeededRegistry],
    v2_tls_basic: V2Registry,
    tls_material: TLSMaterial,
    tmp_path: Path,
) -> None:
    emulator, seed = legacy
    report = document(
        regv1(
            "migrate",
            f"http://{netloc(emulator)}",
            f"docker://{v2_tls_basic.host}",
            "--dest-tls-verify=false",
            "--dest-creds",
            DEST_CREDS,
            "--journal",
            str(tmp_path / "journal.sqlite"),
            "--json",
        )
    )
    check_migrated(v2_tls_basic, seed, report, tls_material, tmp_path / "skopeo")

    repo, tag, tip = seed.tag_pairs()[0]
    copied = document(
        regv1(
            "copy",
            f"http://{netloc(emulator)}/{repo}:{tag}",
            f"docker://{v2_tls_basic.host}/copied/app:{tag}",
            "--dest-tls-verify=false",
            "--dest-creds",
            DEST_CREDS,
            "--cache",
            str(tmp_path / "cache.sqlite"),
            "--json",
        )
    )
    assert copied["tags"] == [tag]
    assert len(copied["layers"]) == len(seed.chains[tip])
    assert tag_list(v2_tls_basic, "copied/app") == [tag]
    assert copied["digest"] == manifest_digest(v2_tls_basic, "copied/app", tag)


@pytest.mark.parametrize("trust", ["wrong-ca", "empty-cert-dir", "no-ca"])
@pytest.mark.parametrize("command", ["migrate", "copy"])
def test_an_untrusted_destination_certificate_is_one_error_line_naming_the_destination(
    legacy: tuple[Standalone, SeededRegistry],
    v2_tls_basic: V2Registry,
    tls_material: TLSMaterial,
    tmp_path: Path,
    command: str,
    trust: str,
) -> None:
    emulator, seed = legacy
    (tmp_path / "no-certs").mkdir()
    cert_dir = {
        "wrong-ca": ["--dest-cert-dir", str(tls_material.wrong_ca_dir)],
        "empty-cert-dir": ["--dest-cert-dir", str(tmp_path / "no-certs")],  # trusts nothing more
        "no-ca": [],
    }[trust]
    if command == "migrate":
        source, dest = f"http://{netloc(emulator)}", f"docker://{v2_tls_basic.host}"
        extra = ["--journal", str(tmp_path / "journal.sqlite")]
    else:
        repo, tag, _ = seed.tag_pairs()[0]
        source = f"http://{netloc(emulator)}/{repo}:{tag}"
        dest = f"docker://{v2_tls_basic.host}/refused/app:{tag}"
        extra = ["--cache", str(tmp_path / "cache.sqlite")]
    requests_before = v2_tls_basic.log_path.read_text(errors="replace").count("http.request.uri=")
    result = regv1(command, source, dest, *cert_dir, "--dest-creds", DEST_CREDS, *extra)
    line = one_error_line(result)
    assert "destination" in line
    assert v2_tls_basic.host in line
    assert "--dest-cert-dir" in line
    assert "s3cret" not in result.output
    # The refusal was the client's, at the handshake: distribution saw no request.
    registry_log = v2_tls_basic.wait_for_log("TLS handshake error")
    assert registry_log.count("http.request.uri=") == requests_before


def _login_arguments(style: str, source_host: str, dest_host: str, tmp_path: Path) -> list[str]:
    """The same two logins given the three ways the per-side interface allows.

    Each side's auth file also holds a decoy login for the *other* side's host, so a
    file read for the wrong side sends a password that must never show up anywhere.
    """
    if style == "creds":
        return ["--src-creds", SRC_CREDS, "--dest-creds", DEST_CREDS]
    if style == "authfile":
        both = {source_host: SRC_CREDS, dest_host: DEST_CREDS}
        return ["--authfile", str(auth_file(tmp_path / "auth.json", both))]
    src_file = auth_file(
        tmp_path / "src-auth.json", {source_host: SRC_CREDS, dest_host: f"{USER}:decoy-in-src-file"}
    )
    dest_file = auth_file(
        tmp_path / "dest-auth.json",
        {dest_host: DEST_CREDS, source_host: f"{SRC_USER}:decoy-in-dest-file"},
    )
    return ["--src-authfile", str(src_file), "--dest-authfile", str(dest_file)]


@pytest.mark.parametrize("style", ["per-side-authfiles", "authfile", "creds"])
def test_copy_basic_source_to_token_destination_keeps_each_password_on_its_side(
    private_source: Standalone,
    v2_tls_token: V2Registry,
    tls_material: TLSMaterial,
    tmp_path: Path,
    style: str,
) -> None:
    issuer = v2_tls_token.issuer
    assert issuer is not None
    source_host = netloc(private_source)
    logins = _login_arguments(style, source_host, v2_tls_token.host, tmp_path)
    reference = f"docker://{v2_tls_token.host}/moved/private:1.0"
    copied = document(
        regv1(
            "copy",
            f"http://{source_host}/{PRIVATE}:1.0",
            reference,
            "--dest-cert-dir",
            str(tls_material.ca_dir),
            *logins,
            "--cache",
            str(tmp_path / "cache.sqlite"),
            "--json",
        )
    )
    assert copied["tags"] == ["1.0"]
    inspected = skopeo_inspect(
        tmp_path / "skopeo",
        reference,
        "--cert-dir",
        str(tls_material.ca_dir),
        "--creds",
        DEST_CREDS,
    )
    assert inspected["Digest"] == copied["digest"]
    assert len(inspected["Layers"]) == 3
    assert tag_list(v2_tls_token, "moved/private") == ["1.0"]

    source_login, dest_login = f"Basic {fingerprint(SRC_CREDS)}", f"Basic {fingerprint(DEST_CREDS)}"
    decoys = {
        f"Basic {fingerprint(f'{USER}:decoy-in-src-file')}",
        f"Basic {fingerprint(f'{SRC_USER}:decoy-in-dest-file')}",
    }
    seen_by_source = private_source.log.authorizations()
    seen_by_issuer = set(issuer.authorizations)
    assert source_login in seen_by_source
    assert dest_login in seen_by_issuer
    assert dest_login not in seen_by_source  # the destination's password stayed off the source
    assert source_login not in seen_by_issuer  # and the source's off the destination
    assert not decoys & (seen_by_source | seen_by_issuer)
    # Distribution served the copy to the issuer's tokens for the destination's user.
    assert f"auth.user.name={USER} " in v2_tls_token.log_path.read_text(errors="replace")
