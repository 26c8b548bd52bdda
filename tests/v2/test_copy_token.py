"""`copy` and `regv1 copy` into distribution in token mode: the bearer flow end to end."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from docker_registry_v1 import BasicAuth, Client
from docker_registry_v1.cli import main
from docker_registry_v1.core.errors import DockerRegistryError
from docker_registry_v1.core.progress import SilentProgress
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import build_image_chain
from docker_registry_v1.oci.client import OCIClient
from docker_registry_v1.transfer.copy import BlobCache, copy
from test_copy import run_skopeo, writes
from v2registry import PASSWORD, USER, V2Registry


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("REGV1_REGISTRY", "REGV1_USERNAME", "REGV1_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "docker-config").mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))


def seed(standalone: Standalone, repo: str, number: int) -> None:
    standalone.store.seed(repo, "1.0", build_image_chain(3, seed=number, layer_size=150_000))


def dest(registry: V2Registry, password: str = PASSWORD) -> OCIClient:
    return OCIClient(registry.url, auth=BasicAuth(USER, password))


def token_requests(registry: V2Registry) -> list[dict[str, list[str]]]:
    assert registry.issuer is not None
    return registry.issuer.requests


def no_credentials_at(standalone: Standalone) -> None:
    """The v1 source is another host: the destination's login never reaches it."""
    assert [e for e in standalone.log.entries if e.authorization is not None] == []


def regv1(*args: str, password: str) -> Result:
    return CliRunner().invoke(
        main,
        [*args, "--dest-creds", USER, "--dest-password-stdin"],
        input=password + "\n",
        catch_exceptions=False,
    )


def test_a_copy_in_token_mode_is_read_back_and_a_second_copy_uploads_nothing(
    standalone: Standalone, v2_token: V2Registry, tmp_path: Path
) -> None:
    seed(standalone, "acme/tok", 61)
    name = "token/api/app"
    cache = BlobCache(tmp_path / "cache.sqlite")
    asked = len(token_requests(v2_token))
    with Client(standalone.url) as source, dest(v2_token) as target:
        first = copy(source, "acme/tok", "1.0", target, dest_repo=name, cache=cache)
        before = len(v2_token.log_lines())
        second = copy(source, "acme/tok", "1.0", target, dest_repo=name, cache=cache)
    assert len(first.uploaded) == 3
    assert second.uploaded == ()
    assert second.bytes_transferred == 0
    assert writes(v2_token, before) == []
    issued = token_requests(v2_token)[asked:]
    assert issued
    assert {scope for query in issued for scope in query.get("scope", [])} <= {
        f"repository:{name}:pull",
        f"repository:{name}:pull,push",
    }
    assert all(query.get("account") == [USER] for query in issued)
    no_credentials_at(standalone)
    inspected = json.loads(
        run_skopeo(
            "inspect",
            "--tls-verify=false",
            "--creds",
            f"{USER}:{PASSWORD}",
            f"docker://{v2_token.host}/{name}:1.0",
        )
    )
    assert inspected["Digest"] == first.digest
    assert inspected["Layers"] == list(first.layers)


def test_the_cli_copies_into_token_mode_twice(
    standalone: Standalone, v2_token: V2Registry, tmp_path: Path
) -> None:
    seed(standalone, "acme/tokcli", 62)
    src = f"{standalone.url.removeprefix('http://').rstrip('/')}/acme/tokcli:1.0"
    args = ["copy", src, f"docker://{v2_token.host}/token/cli:2.0", "--json"]
    args += ["--cache", str(tmp_path / "c.sqlite")]
    first = regv1(*args, password=PASSWORD)
    second = regv1(*args, password=PASSWORD)
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert len(json.loads(first.stdout)["uploaded"]) == 3
    again = json.loads(second.stdout)
    assert again["uploaded"] == []
    assert again["bytes"] == 0
    no_credentials_at(standalone)
    inspected = json.loads(
        run_skopeo(
            "inspect",
            "--tls-verify=false",
            "--creds",
            f"{USER}:{PASSWORD}",
            f"docker://{v2_token.host}/token/cli:2.0",
        )
    )
    assert inspected["Digest"] == again["digest"]


class _Slow(SilentProgress):
    """Stalls after the first layer, so the rest of the copy needs a fresh token."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.paused = False

    def finished(self, image_id: str, *, skipped: bool = False) -> None:
        if not self.paused:
            self.paused = True
            time.sleep(self.pause)


def test_an_expired_token_mid_copy_is_refreshed(
    standalone: Standalone, short_tokens: V2Registry, tmp_path: Path
) -> None:
    seed(standalone, "acme/short", 63)
    asked = len(token_requests(short_tokens))
    with Client(standalone.url) as source, dest(short_tokens) as target:
        done = copy(
            source,
            "acme/short",
            "1.0",
            target,
            dest_repo="token/short",
            concurrency=1,
            progress=_Slow(2.5),  # past the 2-second token lifetime
            cache=tmp_path / "c.sqlite",
        )
        assert target.manifest_digest("token/short", "1.0") == done.digest
    assert len(done.uploaded) == 3
    pushes = [q for q in token_requests(short_tokens)[asked:] if "push" in q.get("scope", [""])[0]]
    assert len(pushes) >= 2


def test_a_mount_in_token_mode_widens_the_scope(
    standalone: Standalone, v2_token: V2Registry, tmp_path: Path
) -> None:
    seed(standalone, "acme/tokmount", 64)
    cache = BlobCache(tmp_path / "cache.sqlite")
    with Client(standalone.url) as source, dest(v2_token) as target:
        first = copy(source, "acme/tokmount", "1.0", target, dest_repo="token/one", cache=cache)
        asked = len(token_requests(v2_token))
        second = copy(source, "acme/tokmount", "1.0", target, dest_repo="token/two", cache=cache)
    assert second.uploaded == ()
    assert sorted(second.mounted) == sorted(first.layers)
    widened = [q["scope"] for q in token_requests(v2_token)[asked:] if len(q.get("scope", [])) > 1]
    assert ["repository:token/one:pull", "repository:token/two:pull,push"] in widened


def test_a_wrong_password_is_one_typed_error(
    standalone: Standalone, v2_token: V2Registry, tmp_path: Path
) -> None:
    seed(standalone, "acme/wrong", 65)
    before = len(v2_token.log_lines())
    with (
        Client(standalone.url) as source,
        dest(v2_token, "not-the-password") as target,
        pytest.raises(DockerRegistryError) as caught,
    ):
        copy(source, "acme/wrong", "1.0", target, cache=tmp_path / "c.sqlite")
    assert "not-the-password" not in str(caught.value)
    assert writes(v2_token, before) == []


def test_a_wrong_password_is_one_error_line_in_the_cli(
    standalone: Standalone, v2_token: V2Registry, tmp_path: Path
) -> None:
    seed(standalone, "acme/wrongcli", 66)
    src = f"{standalone.url.removeprefix('http://').rstrip('/')}/acme/wrongcli:1.0"
    result = regv1(
        "copy",
        src,
        f"docker://{v2_token.host}/token/wrong:1.0",
        "--cache",
        str(tmp_path / "c.sqlite"),
        password="not-the-password",
    )
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "not-the-password" not in result.stderr


def test_dest_creds_log_in_to_the_token_registry_alone(
    standalone: Standalone, v2_token: V2Registry, tmp_path: Path
) -> None:
    seed(standalone, "acme/destcreds", 67)
    src = f"{standalone.url.removeprefix('http://').rstrip('/')}/acme/destcreds:1.0"
    target = f"docker://{v2_token.host}/token/destcreds:1.0"
    cache = ["--cache", str(tmp_path / "c.sqlite")]
    done = CliRunner().invoke(
        main,
        ["copy", src, target, "--dest-creds", f"{USER}:{PASSWORD}", "--json", *cache],
        catch_exceptions=False,
    )
    assert done.exit_code == 0, done.output
    assert len(json.loads(done.stdout)["uploaded"]) == 3
    no_credentials_at(standalone)
    layout = CliRunner().invoke(
        main,
        ["copy", src, f"oci:{tmp_path / 'layout'}", "--dest-creds", USER, *cache],
        catch_exceptions=False,
    )
    assert layout.exit_code == 1
    assert "--dest-creds is for a registry; the destination is oci:" in layout.stderr
