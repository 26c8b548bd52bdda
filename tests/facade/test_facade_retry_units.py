"""The send path's one retry policy, edge by edge, against scripted transports.

Real sockets cover the same path in tests/reliability/test_reliability_send_path.py;
here a ``MockTransport`` answers, so that each answer (an HTTP-date ``Retry-After``, a
408, a POST) can be had exactly and the requests counted.
"""

from __future__ import annotations

import datetime
import email.utils
import logging
from collections.abc import Callable, Iterator

import anyio
import httpx
import pytest
from docker_registry_v1 import (
    AsyncClient,
    Client,
    InvalidInput,
    RegistryError,
    RetryPolicy,
    ServerError,
)
from docker_registry_v1.core.httplog import loggable_url
from docker_registry_v1.core.retry import NO_RETRY, retry_after
from docker_registry_v1.oci.client import AsyncOCIClient, OCIClient
from docker_registry_v1.transfer import RetryPolicy as TransferRetryPolicy
from docker_registry_v1.v1.client import DEFAULT_TIMEOUT

QUICK = RetryPolicy(attempts=3, base_delay=0.0, max_delay=5.0, jitter=0.0)
IMAGE = "a" * 64
TAGS = httpx.Response(200, json={"latest": IMAGE})
DIGEST = "sha256:" + "b" * 64


class Script:
    """Answers each request with the next response of ``answers`` (the last one repeats)
    and keeps every request it saw."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response]):
        self.answers = list(answers)
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.seen.append(request)
        answer = self.answers[min(len(self.seen), len(self.answers)) - 1]
        if callable(answer):
            return answer(request)
        # a fresh response each time: one that was sent once has been read and closed
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def _client(script: Script, retry: RetryPolicy | None = QUICK) -> Client:
    return Client("http://registry.test", transport=script.transport(), retry=retry)


def _http_date(seconds_from_now: float) -> str:
    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds_from_now)
    return email.utils.format_datetime(when, usegmt=True)


# ---------------------------------------------------------------- Retry-After


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    assert retry_after(httpx.Headers({"Retry-After": "7"})) == 7.0
    in_a_minute = retry_after(httpx.Headers({"Retry-After": _http_date(60)}))
    assert in_a_minute is not None
    assert 55 <= in_a_minute <= 60
    assert retry_after(httpx.Headers({"Retry-After": "Sun, 06 Nov 1994 08:49:37 GMT"})) == 0.0
    assert retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    assert retry_after(httpx.Headers([(b"Retry-After", "\u00b3".encode())])) is None
    assert retry_after(httpx.Headers({})) is None


def test_an_http_date_retry_after_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr("docker_registry_v1.v1.client.time.sleep", waits.append)
    busy = httpx.Response(503, headers={"Retry-After": _http_date(3)})
    script = Script(busy, TAGS)
    with _client(script) as client:
        assert dict(client.repository.list_tags("ns/r")) == {"latest": IMAGE}
    assert len(script.seen) == 2
    assert len(waits) == 1
    assert 1.5 <= waits[0] <= 3.0  # the date, not the policy's 0-second backoff


@pytest.mark.parametrize("value", ["120", "date"])
def test_a_retry_after_beyond_max_delay_gives_up_at_once(value: str) -> None:
    header = _http_date(120) if value == "date" else value
    script = Script(httpx.Response(429, headers={"Retry-After": header}), TAGS)
    with _client(script) as client, pytest.raises(RegistryError) as caught:
        client.repository.list_tags("ns/r")
    assert caught.value.code == 429
    assert len(script.seen) == 1


# ---------------------------------------------------------------- what is retried


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    script = Script(httpx.Response(status), TAGS)
    with _client(script) as client:
        assert dict(client.repository.list_tags("ns/r")) == {"latest": IMAGE}
    assert len(script.seen) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_final_statuses_are_not_retried(status: int) -> None:
    script = Script(httpx.Response(status), TAGS)
    with _client(script) as client, pytest.raises(RegistryError):
        client.repository.list_tags("ns/r")
    # a 404 is explained afterwards (``_ping``, then maybe ``/v2/``), never sent again
    assert [request.url.path for request in script.seen].count("/v1/repositories/ns/r/tags") == 1


def test_a_refused_connection_is_retried() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    script = Script(refuse, refuse, TAGS)
    with _client(script) as client:
        assert dict(client.repository.list_tags("ns/r")) == {"latest": IMAGE}
    assert len(script.seen) == 3


def test_persistent_failure_stops_after_the_attempts() -> None:
    script = Script(httpx.Response(503))
    with _client(script) as client, pytest.raises(ServerError):
        client.repository.list_tags("ns/r")
    assert len(script.seen) == QUICK.attempts


def test_the_checksum_and_index_puts_are_never_repeated() -> None:
    script = Script(httpx.Response(503))
    with _client(script) as client:
        with pytest.raises(ServerError):
            client.image.put_checksum(IMAGE, "sha256:" + "c" * 64)
        with pytest.raises(ServerError):
            client.repository.update_images("ns/r", [IMAGE])
        with pytest.raises(ServerError):
            client.hub.get_write_token("ns/r", images=[IMAGE])
    assert [r.method for r in script.seen] == ["PUT", "PUT", "PUT"]


def test_a_post_is_not_repeated() -> None:
    script = Script(httpx.Response(503))
    with _client(script) as client, pytest.raises(ServerError):
        client.users.create("someone", "pw", "someone@example.test")
    assert [r.method for r in script.seen] == ["POST"]


def test_idempotent_puts_with_bytes_are_repeated() -> None:
    script = Script(httpx.Response(503), httpx.Response(200))
    with _client(script) as client:
        client.repository.set_tag("ns/r", IMAGE, "latest")
        client.image.add_layer(IMAGE, b"layer bytes")
    assert [r.method for r in script.seen] == ["PUT", "PUT", "PUT"]
    assert script.seen[0].content == script.seen[1].content == f'"{IMAGE}"'.encode()


def test_a_streamed_body_is_not_repeated() -> None:
    script = Script(httpx.Response(503), httpx.Response(200))

    def chunks() -> Iterator[bytes]:
        yield b"part one, "
        yield b"part two"

    with _client(script) as client, pytest.raises(ServerError):
        client.image.add_layer(IMAGE, chunks())
    assert len(script.seen) == 1


def test_a_body_cut_short_is_retried() -> None:
    class CutShort(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b'{"lat'
            raise httpx.RemoteProtocolError("peer closed connection")

    script = Script(
        lambda _: httpx.Response(200, headers={"Content-Length": "30"}, stream=CutShort()), TAGS
    )
    with _client(script) as client:
        assert dict(client.repository.list_tags("ns/r")) == {"latest": IMAGE}
    assert len(script.seen) == 2


# ---------------------------------------------------------------- configuration


def test_retry_none_or_one_attempt_switches_it_off() -> None:
    for retry in (None, RetryPolicy(attempts=1)):
        script = Script(httpx.Response(503), TAGS)
        with _client(script, retry) as client, pytest.raises(ServerError):
            client.repository.list_tags("ns/r")
        assert len(script.seen) == 1
    assert Client("http://registry.test").retry == RetryPolicy()  # on by default


def test_with_options_is_a_copy_sharing_the_pool() -> None:
    script = Script(httpx.Response(503))
    with _client(script) as client:
        patient = client.with_options(retry=RetryPolicy(attempts=5, base_delay=0.0))
        hasty = client.with_options(retry=None)
        assert patient._http is client._http is hasty._http
        assert client.retry is QUICK  # the original keeps its own
        for which, expected in ((hasty, 1), (client, QUICK.attempts), (patient, 5)):
            script.seen.clear()
            with pytest.raises(ServerError):
                which.repository.list_tags("ns/r")
            assert len(script.seen) == expected
        with pytest.raises(InvalidInput, match="retry"):
            client.with_options(retry=3)  # type: ignore[arg-type]


def test_with_options_shares_the_token_decision() -> None:
    script = Script(httpx.Response(200, json={"standalone": True}))
    with _client(script) as client:
        copy = client.with_options(retry=None)
        assert copy.issues_tokens() is False
        assert client.issues_tokens() is False
    assert len(script.seen) == 1


def test_one_timeout_model_for_both_clients() -> None:
    seen: list[dict[str, float | None]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={"latest": IMAGE})

    transport = httpx.MockTransport(answer)
    with (
        Client("http://registry.test", transport=transport) as v1,
        OCIClient("http://registry.test", transport=transport) as v2,
    ):
        assert v1._http.timeout == v2._http.timeout == DEFAULT_TIMEOUT
        v1.repository.list_tags("ns/r")
        v1.with_options(timeout=2.5).repository.list_tags("ns/r")
        v2.with_options(timeout=2.5).ping()
    assert seen[0] == DEFAULT_TIMEOUT.as_dict()
    assert seen[1] == seen[2] == httpx.Timeout(2.5).as_dict()


def test_the_policy_has_one_home_and_its_old_names() -> None:
    assert TransferRetryPolicy is RetryPolicy
    assert RetryPolicy(attempts=1) == NO_RETRY


# ---------------------------------------------------------------- the async client


def test_the_async_client_retries_the_same_way() -> None:
    async def main() -> tuple[int, int]:
        script = Script(httpx.Response(408), TAGS)
        async with AsyncClient(
            "http://registry.test", transport=script.transport(), retry=QUICK
        ) as client:
            await client.repository.list_tags("ns/r")
            first = len(script.seen)
            script.seen.clear()
            script.answers = [httpx.Response(503)]
            with pytest.raises(ServerError):
                await client.with_options(retry=None).repository.list_tags("ns/r")
            return first, len(script.seen)

    assert anyio.run(main) == (2, 1)


# ---------------------------------------------------------------- the OCI client


def test_oci_head_is_retried_and_a_mount_is_not() -> None:
    script = Script(httpx.Response(503), httpx.Response(200, headers={"Content-Length": "5"}))
    with OCIClient("http://registry.test", transport=script.transport(), retry=QUICK) as client:
        assert client.blob_size("team/app", DIGEST) == 5
        assert [r.method for r in script.seen] == ["HEAD", "HEAD"]
        script.seen.clear()
        script.answers = [httpx.Response(503)]
        with pytest.raises(RegistryError):
            client.mount_blob("team/app", DIGEST, "team/other")
        assert [r.method for r in script.seen] == ["POST"]


def test_oci_streamed_upload_is_not_repeated_but_its_session_post_is() -> None:
    opened = httpx.Response(202, headers={"Location": "/v2/team/app/blobs/uploads/1"})
    script = Script(httpx.Response(503), opened, httpx.Response(503))
    with (
        OCIClient("http://registry.test", transport=script.transport(), retry=QUICK) as client,
        pytest.raises(RegistryError),
    ):
        client.upload_blob("team/app", iter([b"streamed"]))
    # (the GET /v2/ is the auth flow's probe before a body it cannot send twice)
    sent = [r.method for r in script.seen if r.url.path != "/v2/"]
    assert sent == ["POST", "POST", "PATCH"]


def test_oci_retry_none_switches_it_off() -> None:
    async def main() -> int:
        script = Script(httpx.Response(503))
        async with AsyncOCIClient(
            "http://registry.test", transport=script.transport(), retry=None
        ) as client:
            with pytest.raises(RegistryError):
                await client.blob_size("team/app", DIGEST)
        return len(script.seen)

    assert anyio.run(main) == 1
    assert OCIClient("http://registry.test").retry == RetryPolicy()


# ---------------------------------------------------------------- the log


def test_each_request_and_retry_is_logged_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signed = "https://storage.test/blob?X-Amz-Signature=SIGSECRET&Expires=99&sig=S2&token=T3"
    redirect = httpx.Response(302, headers={"Location": signed})
    script = Script(httpx.Response(503), redirect, TAGS)
    caplog.set_level(logging.DEBUG, logger="docker_registry_v1")
    with _client(script) as client:
        client.repository.list_tags("ns/r")
    messages = [r.getMessage() for r in caplog.records if r.name == "docker_registry_v1.http"]
    assert messages[0].startswith("GET http://registry.test/v1/repositories/ns/r/tags -> 503")
    assert messages[1].startswith("retrying GET http://registry.test/v1/repositories/ns/r/tags")
    assert "503 ServerError" in messages[1]
    assert messages[2].startswith("GET https://storage.test/blob?X-Amz-Signature=<redacted>")
    assert " -> 200 " in messages[2]
    text = "\n".join(messages)
    for secret in ("SIGSECRET", "S2", "T3", "=99"):
        assert secret not in text


def test_loggable_urls_keep_only_harmless_query_values() -> None:
    assert (
        loggable_url("https://user:pw@registry.test/v2/_catalog?n=100&last=abc")
        == "https://registry.test/v2/_catalog?n=100&last=abc"
    )
    assert (
        loggable_url("https://s.test/b?mount=sha256:1&from=a/b&Signature=zz&AWSAccessKeyId=k")
        == "https://s.test/b?mount=sha256:1&from=a/b&Signature=<redacted>&AWSAccessKeyId=<redacted>"
    )


def test_the_library_logger_has_only_a_null_handler() -> None:
    handlers = logging.getLogger("docker_registry_v1").handlers
    assert [type(h) for h in handlers] == [logging.NullHandler]
