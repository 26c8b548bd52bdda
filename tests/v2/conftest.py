"""Session-wide real v2 registries, one per auth mode; tests use their own repositories.

The test PKI (`tls_support`) is made once per session; the https registries built on
it (`v2_tls_basic`, `v2_tls_token`) are per test, so a test may read the whole
catalog and the logs as its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tls_support import TLSMaterial, make_tls_material
from v2registry import V2Registry, run_registry


@pytest.fixture(scope="session")
def v2_open(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Registry]:
    """Distribution without auth."""
    with run_registry("none", tmp_path_factory.mktemp("v2-open")) as registry:
        yield registry


@pytest.fixture(scope="session")
def v2_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Registry]:
    """Distribution with ``htpasswd`` Basic auth for `v2registry.USER`."""
    with run_registry("htpasswd", tmp_path_factory.mktemp("v2-basic")) as registry:
        yield registry


@pytest.fixture(scope="session")
def v2_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V2Registry]:
    """Distribution with token auth and its loopback issuer."""
    with run_registry("token", tmp_path_factory.mktemp("v2-token")) as registry:
        yield registry


@pytest.fixture(params=["none", "htpasswd", "token"])
def v2_any(request: pytest.FixtureRequest) -> V2Registry:
    """Each auth mode in turn."""
    name = {"none": "v2_open", "htpasswd": "v2_basic", "token": "v2_token"}[request.param]
    registry: V2Registry = request.getfixturevalue(name)
    return registry


@pytest.fixture
def short_tokens(v2_token: V2Registry) -> Iterator[V2Registry]:
    """The token registry whose issuer hands out 2-second tokens for this test only."""
    assert v2_token.issuer is not None
    v2_token.issuer.lifetime = 2
    try:
        yield v2_token
    finally:
        v2_token.issuer.lifetime = 300


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TLSMaterial:
    """The test CA (as a cert dir), its loopback server certificate and an unrelated CA."""
    return make_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def v2_tls_basic(tls_material: TLSMaterial, tmp_path: Path) -> Iterator[V2Registry]:
    """Distribution over https (``localhost:PORT``) with ``htpasswd`` Basic auth."""
    with run_registry("htpasswd", tmp_path / "v2-tls-basic", tls_material) as registry:
        yield registry


@pytest.fixture
def v2_tls_token(tls_material: TLSMaterial, tmp_path: Path) -> Iterator[V2Registry]:
    """Distribution over https with token auth; its issuer serves https with the same CA."""
    with run_registry("token", tmp_path / "v2-tls-token", tls_material) as registry:
        yield registry
