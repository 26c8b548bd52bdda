"""Typed errors of the OCI Distribution side, built from the spec's error body.

A registry answers ``{"errors": [{"code", "message", "detail"}]}``; the first entry's
``code`` picks the class (``NAME_INVALID`` → :class:`NameInvalid`, …) so callers can
catch what went wrong without parsing text, and every error names the image or blob
the call was about. They are :class:`RegistryError` subclasses, so ``code`` stays the
HTTP status and the transfer retry policy treats 429 and 5xx as it does on the v1 side.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import httpx

from ..core.errors import RegistryError, _redact, _request_line

__all__ = [
    "BlobUnknown",
    "BlobUploadInvalid",
    "Denied",
    "DigestInvalid",
    "DigestMismatch",
    "EndlessPagingError",
    "ManifestBlobUnknown",
    "ManifestInvalid",
    "ManifestUnknown",
    "NameInvalid",
    "NameUnknown",
    "NotAV2Registry",
    "OCIError",
    "OCIUnauthorized",
    "ReferrersError",
    "TooManyRequests",
]


@attrs.frozen
class ErrorDetail:
    """One entry of the error body: the spec's code, its message, and any detail."""

    code: str
    message: str = ""
    detail: Any = None


class OCIError(RegistryError):
    """A non-2xx answer of an OCI registry; ``error_code`` is the first entry's code
    (``None`` when the answer had no error body, e.g. to a HEAD) and ``errors`` all of them."""

    error_code: str | None = None
    errors: tuple[ErrorDetail, ...] = ()


class EndlessPagingError(OCIError):
    """A paged listing whose ``Link`` leads back to a page already read, or on past
    `docker_registry_v1.oci.client.MAX_PAGES`: a broken or hostile registry."""


class NotAV2Registry(OCIError):  # noqa: N818 - says what the destination is not
    """``GET /v2/`` was not answered as an OCI/v2 registry answers it (a v1-only server)."""


class NameInvalid(OCIError):  # noqa: N818 - the spec's code
    """``NAME_INVALID``: the registry refuses the repository name."""


class NameUnknown(OCIError):  # noqa: N818 - the spec's code
    """``NAME_UNKNOWN``: no such repository."""


class BlobUnknown(OCIError):  # noqa: N818 - the spec's code
    """``BLOB_UNKNOWN``: the digest names no blob in this repository."""


class BlobUploadInvalid(OCIError):  # noqa: N818 - the spec's code
    """``BLOB_UPLOAD_INVALID`` / ``BLOB_UPLOAD_UNKNOWN``: the upload session is gone or stale."""


class DigestInvalid(OCIError):  # noqa: N818 - the spec's code
    """``DIGEST_INVALID``: the bytes do not match the digest given."""


class ManifestInvalid(OCIError):  # noqa: N818 - the spec's code
    """``MANIFEST_INVALID`` (or ``MANIFEST_UNVERIFIED``): the registry rejected the manifest."""


class ManifestUnknown(OCIError):  # noqa: N818 - the spec's code
    """``MANIFEST_UNKNOWN``: no manifest under that tag or digest."""


class ManifestBlobUnknown(OCIError):  # noqa: N818 - the spec's code
    """``MANIFEST_BLOB_UNKNOWN``: the manifest names a blob the repository lacks."""


class Denied(OCIError):  # noqa: N818 - the spec's code
    """``DENIED``: authenticated, but not allowed."""


class OCIUnauthorized(OCIError):  # noqa: N818 - the spec's code
    """``UNAUTHORIZED``, or a 401 without a body: credentials missing or refused."""


class TooManyRequests(OCIError):  # noqa: N818 - the spec's code
    """``TOOMANYREQUESTS``, or a 429 without a body."""


class DigestMismatch(OCIError):  # noqa: N818 - what happened
    """The bytes seen do not hash to the digest expected (before or after the upload)."""


class ReferrersError(OCIError):
    """A referrers listing, fallback index or artifact that the registry (or layout)
    answered with, but that cannot be read as one (``code`` 0: not an HTTP status)."""


_BY_CODE: dict[str, type[OCIError]] = {
    "NAME_INVALID": NameInvalid,
    "NAME_UNKNOWN": NameUnknown,
    "BLOB_UNKNOWN": BlobUnknown,
    "BLOB_UPLOAD_INVALID": BlobUploadInvalid,
    "BLOB_UPLOAD_UNKNOWN": BlobUploadInvalid,
    "DIGEST_INVALID": DigestInvalid,
    "MANIFEST_INVALID": ManifestInvalid,
    "MANIFEST_UNVERIFIED": ManifestInvalid,
    "MANIFEST_UNKNOWN": ManifestUnknown,
    "MANIFEST_BLOB_UNKNOWN": ManifestBlobUnknown,
    "DENIED": Denied,
    "UNAUTHORIZED": OCIUnauthorized,
    "TOOMANYREQUESTS": TooManyRequests,
}
_BY_STATUS: dict[int, type[OCIError]] = {401: OCIUnauthorized, 403: Denied, 429: TooManyRequests}


def _details(content: bytes) -> tuple[ErrorDetail, ...]:
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        return ()
    entries = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return ()
    found = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("code"), str):
            message = entry.get("message")
            found.append(
                ErrorDetail(
                    entry["code"], message if isinstance(message, str) else "", entry.get("detail")
                )
            )
    return tuple(found)


def oci_error(
    response: httpx.Response, content: bytes, what: str, cls: type[OCIError] | None = None
) -> OCIError:
    """The typed error for a non-2xx ``response`` about ``what`` (e.g. ``blob sha256:… of
    team/app``), from (the start of) its body."""
    details = _details(content)
    first = details[0] if details else None
    chosen = (
        cls
        or (_BY_CODE.get(first.code) if first is not None else None)
        or _BY_STATUS.get(response.status_code, OCIError)
    )
    method, url = _request_line(response)
    said = "; ".join(f"{d.code}: {d.message}" if d.message else d.code for d in details)
    error = chosen(
        code=response.status_code,
        method=method,
        url=url,
        message=said or None,
        headers=_redact(response.headers),
        reason=f"{what}: {said}" if said else what,
    )
    error.error_code = first.code if first is not None else None
    error.errors = details
    return error
