"""The run's memory of the blobs it confirmed at the destination (`PresentBlobs`): the
same answers as a set of (repository, digest) pairs, in a compact form, and a
repository the run is done with dropped whole."""

from __future__ import annotations

import hashlib

from docker_registry_v1.engine.blobs import PresentBlobs


def _digest(n: int) -> str:
    return "sha256:" + hashlib.sha256(str(n).encode()).hexdigest()


def test_answers_as_a_set_of_pairs_would() -> None:
    present = PresentBlobs()
    plain: set[tuple[str, str]] = set()
    pairs = [(f"repo/{n % 3}", _digest(n)) for n in range(30)]
    pairs += [("repo/0", "sha512:" + "ab" * 64), ("repo/1", "sha256:NOT-HEX" + "0" * 57)]
    for pair in pairs + pairs[:5]:  # twice: a set holds each once
        present.add(pair)
        plain.add(pair)
    assert len(present) == len(plain) == len(pairs)
    assert set(present) == plain
    for pair in pairs:
        assert pair in present
    assert ("repo/9", _digest(0)) not in present
    assert ("repo/1", _digest(0)) not in present  # the digest is held by repo/0 only
    odd: object = (_digest(0),)
    assert odd not in present  # not a pair
    present.discard(pairs[0])
    assert pairs[0] not in present
    assert len(present) == len(pairs) - 1


def test_a_forgotten_repository_is_gone_and_the_others_stay() -> None:
    present = PresentBlobs()
    for n in range(10):
        present.add((f"repo/{n % 2}", _digest(n)))
    present.forget("repo/0")
    assert {repo for repo, _ in present} == {"repo/1"}
    assert ("repo/0", _digest(0)) not in present
    assert ("repo/1", _digest(1)) in present
    present.forget("repo/unknown")
    assert len(present) == 5
