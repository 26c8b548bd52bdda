"""The request budget of a migration of the scale seed, per side and per request kind.

Every formula is a function of the seed's description (:class:`ScaleRegistry`): R
repositories of T tags, every tag its own image on the top of one of B base chains of
D images. The kinds are those of ``emulator.scale.source_kind`` (the source) and
``v2.counting_proxy.dest_kind`` (the destination). A kind a formula leaves out must not
be sent at all.

The source formulas: one search answering every name, each image JSON read once, one
ancestry per base chain (the first tip on it; a tip whose parent's chain is known needs
none) and no index image lists. The destination's, measured on this seed
(docs/migration.md §4 gives the per-tag formula): distribution 2.8 answers a monolithic
``POST ?digest=`` with 202, so each blob sent is a POST and a PUT; a base layer another
repository already holds is mounted.
"""

from __future__ import annotations

from collections import Counter

from docker_registry_v1.emulator.scale import ScaleRegistry

#: ``/v2/`` pings the client sends an open registry (measured: none, it starts with the
#: tag lists; the first 401 would make it ask for a token).
DEST_PINGS = 0


def source_fresh(scale: ScaleRegistry) -> Counter[str]:
    """A first run: ping, search, R tag lists, each image's JSON and layer once, B ancestries."""
    images = scale.unique_images
    return Counter(
        {
            "ping": 1,
            "search": 1,
            "tags": scale.repositories,
            "json": images,
            "layer": images,
            "ancestry": scale.bases,
        }
    )


def source_rerun(scale: ScaleRegistry) -> Counter[str]:
    """Nothing new at the source: ping, search and the R tag lists, nothing else."""
    return Counter({"ping": 1, "search": 1, "tags": scale.repositories})


def source_one_new_tag(scale: ScaleRegistry) -> Counter[str]:
    """One tag added on a known base: the rerun's requests plus its image's JSON and layer."""
    return source_rerun(scale) + Counter({"json": 1, "layer": 1})


def dest_fresh(scale: ScaleRegistry) -> Counter[str]:
    """A fresh destination: R tag lists; every layer and every config (one per tag) sent
    once (POST + PUT); each base layer mounted into every further repository on its chain;
    one manifest PUT per tag."""
    sent = 2 * scale.tag_count + scale.base_images
    counts = Counter(
        {
            "GET tags": scale.repositories,
            "POST uploads": sent,
            "PUT uploads": sent,
            "POST mount": (scale.repositories - scale.bases) * scale.base_depth,
            "PUT manifests": scale.tag_count,
        }
    )
    if DEST_PINGS:
        counts["ping"] = DEST_PINGS
    return counts


def dest_rerun(scale: ScaleRegistry) -> Counter[str]:
    """Nothing new: one tag list per destination repository (and the pings), nothing else."""
    counts = Counter({"GET tags": scale.repositories})
    if DEST_PINGS:
        counts["ping"] = DEST_PINGS
    return counts


def dest_one_new_tag(scale: ScaleRegistry) -> Counter[str]:
    """One new tag: the rerun's requests plus its layer and config sent and its manifest,
    and one HEAD per base layer: the journal says its repository holds them, and a blob is
    taken on the journal's word only after the registry confirms it this run (a garbage
    collection since the last run would otherwise leave a manifest PUT failing on it)."""
    return dest_rerun(scale) + Counter(
        {"HEAD blobs": scale.base_depth, "POST uploads": 2, "PUT uploads": 2, "PUT manifests": 1}
    )


def per_tag(counts: Counter[str], scale: ScaleRegistry) -> float:
    """Requests per tag of the seed."""
    return sum(counts.values()) / scale.tag_count


def off_by_kind(expected: Counter[str], seen: Counter[str]) -> dict[str, tuple[int, int]]:
    """``kind → (expected, seen)`` for every kind whose count differs: the assertion message."""
    return {
        kind: (expected[kind], seen[kind])
        for kind in sorted(set(expected) | set(seen))
        if expected[kind] != seen[kind]
    }
