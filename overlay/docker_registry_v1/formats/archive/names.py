"""Repository and tag names as `docker save` and `docker load` spell them.

Docker writes official images by their familiar name (`busybox`, not
`library/busybox` or `docker.io/library/busybox`) in both `repositories` and
`RepoTags`; following it keeps archives from this package indistinguishable
from docker's own.
"""

from __future__ import annotations

import re

import attrs

from ...core.names import TAG_RULE, is_tag
from .errors import InvalidChainError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?"
_NAME = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*")
_DEFAULT_DOMAINS = ("docker.io/", "index.docker.io/", "registry-1.docker.io/")
_MAX_NAME = 255


@attrs.frozen
class RepoTag:
    """A repository (familiar form, possibly with a registry host) and a tag.

    The repository is None when an OCI archive names its image by a tag alone.
    """

    repository: str | None
    tag: str

    def __str__(self) -> str:
        return self.tag if self.repository is None else f"{self.repository}:{self.tag}"


def familiar_repository(repository: str) -> str:
    """Spell `repository` the way docker names it in an archive, or raise `InvalidChainError`."""
    name = repository
    for domain in _DEFAULT_DOMAINS:
        if name.startswith(domain):
            name = name[len(domain) :]
            break
    if name.startswith("library/") and name.count("/") == 1:
        name = name[len("library/") :]
    if len(name) > _MAX_NAME or not _NAME.fullmatch(name):
        raise InvalidChainError(f"repository name {repository!r} is not a valid docker name")
    return name


def check_tag(tag: str) -> str:
    """Return `tag` if docker accepts it, else raise `InvalidChainError`."""
    if not is_tag(tag):
        raise InvalidChainError(f"tag {tag!r} does not match {TAG_RULE}")
    return tag


def parse_repo_tag(text: str) -> RepoTag | None:
    """Split `name:tag` (host ports allowed) as found in archives; None if there is no tag."""
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon <= slash:
        return None
    try:
        return RepoTag(familiar_repository(text[:colon]), check_tag(text[colon + 1 :]))
    except InvalidChainError:
        return None
