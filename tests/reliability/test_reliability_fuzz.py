"""Fuzzing: schemathesis' stateful phase against the emulator, hypothesis on the parsers.

The parser properties say what may come out of hostile input: only the parser's
own typed error, and anything accepted satisfies the invariants the rest of the
package relies on (no user-info, path or odd characters in an endpoint; a
repository that is exactly two safe path segments; a resume that continues
exactly where the download stopped).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import schemathesis
from docker_registry_v1 import InvalidInput, InvalidResponse, RepositoryName
from docker_registry_v1.core.models import RawMetadata
from docker_registry_v1.core.names import check_header_value
from docker_registry_v1.emulator import run_standalone
from docker_registry_v1.engine.layers import LayerFetch
from docker_registry_v1.v1.endpoints import MAX_ENDPOINTS, Endpoint, parse_endpoints
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import FAST
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.case import Case

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(max_examples=300, deadline=None, derandomize=True)

_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|[0-9a-f:.]+")
_SAFE_PART = re.compile(r"[A-Za-z0-9_.-]{1,255}")


def _outcome(call: Callable[..., T], *args: Any) -> T | ValueError | InvalidResponse:
    """The result, or the parser's typed error (any other exception fails the test)."""
    try:
        return call(*args)
    except (ValueError, InvalidResponse) as exc:
        return exc


# ---------------------------------------------------------------- schemathesis, stateful

schema = schemathesis.openapi.from_path(
    ROOT / "openapi" / "registry-v1.yaml",
    config=SchemathesisConfig.from_path(ROOT / "schemathesis.toml"),
)


def test_stateful_run_against_the_emulator() -> None:
    """Each scenario gets a fresh emulator, so hypothesis can replay it exactly."""
    machine = schema.as_state_machine()
    requests: list[int] = []

    class AgainstEmulator(machine):  # type: ignore[valid-type, misc]
        def setup(self) -> None:
            self.emulator = run_standalone()

        def teardown(self) -> None:
            requests.append(len(self.emulator.log.entries))
            self.emulator.stop()

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"base_url": self.emulator.url}

    AgainstEmulator.run(
        settings=settings(
            max_examples=25,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert sum(requests) >= 25


# ---------------------------------------------------------------- header values


@FUZZ
@given(st.text())
def test_header_check_lets_through_only_what_http_sends_unchanged(value: str) -> None:
    checked = _outcome(check_header_value, "h", value)
    if isinstance(checked, InvalidInput):
        assert checked.field == "h"
        return
    assert checked == value
    assert checked == checked.strip(" \t")
    assert all(ch == "\t" or " " <= ch <= "~" for ch in checked)
    httpx.Headers({"X-Test": checked})  # encodes without error


# ---------------------------------------------------------------- endpoint lists

_ENDPOINT_ALPHABET = "abc.-:/@?#%[]0159 \t,"
endpoint_items = st.text(alphabet=_ENDPOINT_ALPHABET, max_size=30) | st.text(max_size=30)


@FUZZ
@given(
    st.lists(endpoint_items, max_size=4),
    st.sampled_from(["http://127.0.0.1:5000/v1/", "https://index.example/v1/"]),
)
def test_endpoint_list_parser(values: list[str], index: str) -> None:
    index_url = httpx.URL(index)
    endpoints = _outcome(parse_endpoints, values, index_url)
    if isinstance(endpoints, ValueError):
        assert "no usable registry" in str(endpoints)
        return
    assert 1 <= len(endpoints) <= MAX_ENDPOINTS
    assert len(set(endpoints)) == len(endpoints)
    for endpoint in endpoints:
        assert _HOST.fullmatch(endpoint.host)
        assert endpoint.port is None or 0 < endpoint.port < 65536
        assert endpoint.scheme in ("http", "https")
        if index_url.scheme == "https":
            assert endpoint.scheme == "https"
        url = httpx.URL(f"{endpoint}/v1/")
        assert url.host == endpoint.host
        assert not url.userinfo
        assert url.path == "/v1/"


@FUZZ
@given(endpoint_items)
def test_single_endpoint_parser(text: str) -> None:
    try:
        endpoint = Endpoint.parse(text)
    except ValueError:
        return
    assert not any(ch in endpoint.netloc for ch in "/?#@\\% \t")


# ---------------------------------------------------------------- Content-Range


def _fetch(received: int, total: int) -> LayerFetch:
    fetch = LayerFetch(
        "a" * 64, RawMetadata(b"{}", total, None), None, FAST, on_restart=lambda _n: None
    )
    fetch.received, fetch.ranges = received, True
    fetch.next_range()
    return fetch


def _partial(content_range: str) -> httpx.Response:
    request = httpx.Request("GET", "http://127.0.0.1:5000/v1/images/x/layer")
    headers = [(b"Content-Range", content_range.encode())]
    return httpx.Response(206, headers=headers, request=request)


content_ranges = (
    st.text(alphabet="bytes 0123456789-/*,\t", max_size=30)
    | st.builds(
        "{}{}-{}/{}".format,
        st.sampled_from(["", "bytes ", "BYTES  ", "items "]),
        st.integers(0, 2000),
        st.integers(0, 2000),
        st.integers(0, 2000).map(str) | st.just("*"),
    )
    | st.text(max_size=30)
)


@FUZZ
@given(content_ranges, st.integers(1, 1000))
def test_content_range_must_continue_where_we_stopped(value: str, received: int) -> None:
    fetch = _fetch(received, 1002)
    refused = _outcome(fetch.begin, _partial(value))
    if isinstance(refused, InvalidResponse):
        assert refused.code == 206
        return
    start = re.match(r"\s*(?:bytes\s+)?(\d+)-", value, re.IGNORECASE)
    assert start is not None
    assert int(start.group(1)) == received


# ---------------------------------------------------------------- repository names


@FUZZ
@given(st.text(alphabet="ab9_.-/:%é \n", max_size=20) | st.text(max_size=20))
def test_repository_name_parser(name: str) -> None:
    parsed = _outcome(RepositoryName.parse, name)
    if isinstance(parsed, InvalidInput):
        assert parsed.field == "repository"
        return
    for part in (parsed.namespace, parsed.repository):
        assert _SAFE_PART.fullmatch(part)
        assert part not in {".", ".."}
    assert str(parsed) in {name, f"library/{name}"}
    assert RepositoryName.parse(str(parsed)) == parsed
