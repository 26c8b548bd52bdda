"""``regv1 serve``: run the v1 emulator in the foreground until Ctrl-C or SIGTERM.

The emulator and its server stack (starlette, uvicorn, pydantic) come with the ``emulator``
extra and are imported only when the command runs, so that every other command, and
``--help``, works with the ``cli`` extra alone.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from .options import NO_OPTIONS, examples, fail
from .sides import SideSettings, side_options

if TYPE_CHECKING:
    from docker_registry_v1.emulator import Compat, Emulator
    from docker_registry_v1.emulator.compat import SearchShape, UsersApi
    from docker_registry_v1.face import V2Face

#: What the ``emulator`` extra installs; any other missing module is a bug, not a setup issue.
_EMULATOR_EXTRA = frozenset({"starlette", "uvicorn", "pydantic"})

#: The choices of ``emulator.compat.SEARCH_SHAPES`` and ``USERS_APIS``, spelt out here because
#: importing the emulator package would pull in its server stack (a test keeps them equal).
SEARCH_SHAPES = ("reference", "hub", "paged")
USERS_APIS = ("reference", "accounts")
#: The values of ``emulator.Breakage`` and ``emulator.bomb.DEFAULT_BOMB_SIZE``, for the same reason.
BREAKAGES = (
    "in-progress",
    "missing-json",
    "missing-layer",
    "missing-ancestry",
    "corrupt-json",
    "checksum-mismatch",
    "gone",
    "parent-gone",
)
SEEDS = ("messy", "scale:N")
DEFAULT_BOMB_SIZE = 8 << 30
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _user(value: str) -> tuple[str, str]:
    name, sep, password = value.partition(":")
    if not sep or not name:
        raise click.BadParameter(f"expected NAME:PASSWORD, got {name!r} without a password")
    return name, password


def _breakages(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, str]]:
    parsed = []
    for value in values:
        image_id, sep, kind = value.rpartition(":")
        if not sep or not image_id or kind not in BREAKAGES:
            raise click.BadParameter(
                f"expected IMAGE_ID:KIND, KIND one of {', '.join(BREAKAGES)}; got {value!r}"
            )
        parsed.append((image_id, kind))
    return parsed


def _repository_tags(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, str]]:
    parsed = []
    for value in values:
        repository, sep, tag = value.rpartition(":")
        if not sep or not repository or not tag:
            raise click.BadParameter(f"expected REPOSITORY:TAG, got {value!r}")
        parsed.append((repository, tag))
    return parsed


def _size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    """Bytes, optionally with a K, M or G suffix (powers of 1024)."""
    text = value.strip().upper().removesuffix("IB").removesuffix("B")
    unit = text[-1:] if text[-1:] in _UNITS else ""
    number = text[: len(text) - len(unit)]
    if not number.isdigit():
        raise click.BadParameter(f"expected a size such as 8G or 104857600, got {value!r}")
    return int(number) * _UNITS[unit]


def _seed(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``messy``, or ``scale:N`` with N repositories (at least 1)."""
    if value is None or value == "messy":
        return value
    kind, sep, count = value.partition(":")
    if kind == "scale" and sep and count.isdigit() and int(count) >= 1:
        return f"scale:{int(count)}"
    raise click.BadParameter(f"expected one of {', '.join(SEEDS)} (N at least 1), got {value!r}")


def _wait_for_signal() -> None:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@click.command(
    epilog=examples(
        "regv1 serve --port 5000 --data-dir ./registry",
        "regv1 serve --hub --port 5000 --registry-port 5001 --user alice:s3cret",
        "regv1 serve --port 5000 --backend docker://registry.example.com/legacy "
        "--backend-creds reader --backend-password-stdin --user ci:s3cret",
    )
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=5000,
    show_default=True,
    help="Port (the index's in --hub mode); 0 picks a free one.",
)
@click.option("--hub", is_flag=True, help="Index and registry on two ports, tokens enforced.")
@click.option(
    "--registry-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Registry port in --hub mode [default: --port + 1, or free when --port is 0].",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the data in this directory (survives restarts) instead of memory.",
)
@click.option(
    "--user", "users", multiple=True, metavar="NAME:PASSWORD", help="Add a user (repeatable)."
)
@click.option(
    "--private", multiple=True, metavar="NS/REPO", help="Mark a repository private (repeatable)."
)
@click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    metavar="HOST[:PORT]",
    help="--hub: announce this in X-Docker-Endpoints (repeatable; {registry} = the registry).",
)
@click.option(
    "--reference-ranges", is_flag=True, help="Range answers exactly as reference registry 0.9.1."
)
@click.option(
    "--tag-list-as-list", is_flag=True, help='Tag lists as the Hub\'s [{"layer", "name"}].'
)
@click.option(
    "--token-prefix/--bare-token",
    default=None,
    help="Force or drop the 'Token ' prefix of issued X-Docker-Token values.",
)
@click.option(
    "--search",
    "search",
    type=click.Choice(SEARCH_SHAPES),
    default=None,
    help="Search answer shape [default: reference standalone, hub with --hub].",
)
@click.option(
    "--users-api",
    type=click.Choice(USERS_APIS),
    default=None,
    help="/v1/users/ as the reference registry (always OK) or checking accounts "
    "[default: by mode].",
)
@click.option(
    "--seed",
    default=None,
    callback=_seed,
    metavar="messy|scale:N",
    help="Fill the registry first. messy: every broken state a decade-old reference "
    "registry holds (uploads that died, lost json/layer/ancestry files, corrupt JSON, a "
    "dangling tag, a lost parent, a checksum mismatch, a tag list answering 500, names "
    "and tags v2 or OCI refuse, a bzip2 and a gzip compression bomb), next to healthy "
    "tags and repositories. scale:N: N healthy repositories (team0/app0 …) of 4 tags, "
    "each tag its own small image on one of 8 shared 3-image base chains.",
)
@click.option(
    "--bomb-size",
    default=str(DEFAULT_BOMB_SIZE),
    callback=_size,
    metavar="SIZE",
    help="--seed messy: bytes each compression bomb expands to (K/M/G suffixes; a "
    "multiple of 512; default 8G).",
)
@click.option(
    "--describe",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="--seed messy: write what is broken where as JSON to this file; --seed scale:N: "
    "the counts and names.",
)
@click.option(
    "--break",
    "breaks",
    multiple=True,
    callback=_breakages,
    metavar="IMAGE_ID:KIND",
    help=f"Leave a stored image broken as a reference registry would hold it (repeatable); "
    f"KIND: {', '.join(BREAKAGES)}.",
)
@click.option(
    "--corrupt-tag",
    "corrupt_tags",
    multiple=True,
    callback=_repository_tags,
    metavar="REPO:TAG",
    help="Spoil a tag file so the repository's tag list answers 500 (repeatable).",
)
@click.option(
    "--backend",
    metavar="docker://HOST[:PORT][/PREFIX]|oci:DIR",
    default=None,
    help="Serve the images of this v2 registry (or OCI layout) read-only to v1 clients, "
    "with their original v1 ids where a migration left provenance, synthesized ones "
    "otherwise (docs/emulator.md).",
)
@side_options("backend")
@click.option(
    "--cache-ttl",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="--backend: how long tag, manifest and provenance lookups are reused.",
)
def serve(
    *,
    host: str,
    port: int,
    hub: bool,
    registry_port: int | None,
    data_dir: Path | None,
    users: tuple[str, ...],
    private: tuple[str, ...],
    endpoints: tuple[str, ...],
    reference_ranges: bool,
    tag_list_as_list: bool,
    token_prefix: bool | None,
    search: SearchShape | None,
    users_api: UsersApi | None,
    seed: str | None,
    bomb_size: int,
    describe: Path | None,
    breaks: list[tuple[str, str]],
    corrupt_tags: list[tuple[str, str]],
    backend: str | None,
    cache_ttl: float,
    **backend_options: Any,
) -> None:
    """Serve a local Docker Registry v1 (standalone, or --hub with a separate index), or,
    with --backend, a read-only v1 registry over a v2 registry or an OCI layout."""
    try:
        from docker_registry_v1.emulator import (  # noqa: PLC0415 - see the module doc
            Compat,
            Hub,
            run_hub,
            run_standalone,
        )
    except ModuleNotFoundError as exc:
        if exc.name not in _EMULATOR_EXTRA:
            raise
        fail("regv1 serve needs the emulator extra: pip install 'docker-registry-v1[cli,emulator]'")
    accounts = dict(_user(u) for u in users)
    compat = Compat(
        reference_ranges=reference_ranges,
        tag_list_as_list=tag_list_as_list,
        token_prefix=token_prefix,
        search=search,
        users=users_api,
    )
    if endpoints and not hub:
        raise click.UsageError("--endpoint only applies with --hub")
    if describe is not None and seed is None:
        raise click.UsageError("--describe only applies with --seed")
    if backend is not None:
        _refuse_with_backend(
            hub=hub,
            data_dir=data_dir,
            private=private,
            seed=seed,
            breaks=breaks,
            corrupt_tags=corrupt_tags,
        )
        _serve_backend(backend, backend_options, cache_ttl, accounts, compat, host, port)
        return
    if any(backend_options[key] for key in _BACKEND_FLAGS):
        raise click.UsageError("the --backend-* options need --backend")
    emulator: Emulator
    try:
        if hub:
            if registry_port is None:
                registry_port = port + 1 if port else 0
            emulator = run_hub(
                users=accounts,
                private=private,
                data_dir=data_dir,
                compat=compat,
                endpoints=endpoints or None,
                host=host,
                index_port=port,
                registry_port=registry_port,
            )
        else:
            if registry_port is not None:
                raise click.UsageError("--registry-port only applies with --hub")
            emulator = run_standalone(
                users=accounts,
                private=private,
                data_dir=data_dir,
                compat=compat,
                host=host,
                port=port,
            )
    except (OSError, ValueError) as exc:
        fail(f"cannot serve on {host}:{port}: {exc}")
    with emulator:
        try:
            _prepare(
                emulator,
                seed=seed,
                bomb_size=bomb_size,
                describe=describe,
                broken=breaks,
                spoilt=corrupt_tags,
            )
        except (OSError, ValueError) as exc:
            fail(str(exc))
        if isinstance(emulator, Hub):
            click.echo(f"index: {emulator.index_url}")
            click.echo(f"registry: {emulator.registry_url}")
        else:
            click.echo(f"registry: {emulator.url}")
        _wait_for_signal()
    click.echo("stopped")


def _prepare(
    emulator: Emulator,
    *,
    seed: str | None,
    bomb_size: int,
    describe: Path | None,
    broken: list[tuple[str, str]],
    spoilt: list[tuple[str, str]],
) -> None:
    """Seed, then break, before the addresses are printed (so nobody sees a half state)."""
    from docker_registry_v1.emulator import Breakage, seed_messy  # noqa: PLC0415
    from docker_registry_v1.emulator.store import split_repository  # noqa: PLC0415

    if seed == "messy":
        described = seed_messy(emulator.store, bomb_size=bomb_size)
        if describe is not None:
            describe.write_text(described.to_json() + "\n")
    elif seed is not None and seed.startswith("scale:"):
        from docker_registry_v1.emulator.scale import seed_scale  # noqa: PLC0415

        scaled = seed_scale(emulator.store, repositories=int(seed.removeprefix("scale:")))
        if describe is not None:
            describe.write_text(scaled.to_json() + "\n")
    for image_id, kind in broken:
        emulator.store.break_image(image_id, Breakage(kind))
    for repository, tag in spoilt:
        emulator.store.corrupt_tag(split_repository(repository), tag)


_BACKEND_FLAGS = (
    "backend_creds",
    "backend_password_stdin",
    "backend_no_creds",
    "backend_authfile",
    "backend_cert_dir",
    "backend_rate",
    "backend_max_connections",
)


def _serve_backend(  # noqa: PLR0917 - the serve options that apply
    backend: str,
    options: dict[str, Any],
    ttl: float,
    accounts: dict[str, str],
    compat: Compat,
    host: str,
    port: int,
) -> None:
    """A read-only v1 registry over ``backend`` until Ctrl-C or SIGTERM."""
    from docker_registry_v1.emulator import run_standalone  # noqa: PLC0415

    storage, closer = _open_backend(backend, _backend_side(options), ttl)
    with closer, contextlib.closing(storage):
        try:
            emulator = run_standalone(
                users=accounts, compat=compat, host=host, port=port, storage=storage
            )
        except (OSError, ValueError) as exc:
            fail(f"cannot serve on {host}:{port}: {exc}")
        with emulator:
            click.echo(f"registry: {emulator.url}")
            click.echo(f"backend: {backend} (read-only)")
            _wait_for_signal()
    click.echo("stopped")


def _refuse_with_backend(
    *,
    hub: bool,
    data_dir: Path | None,
    private: tuple[str, ...],
    seed: str | None,
    breaks: list[tuple[str, str]],
    corrupt_tags: list[tuple[str, str]],
) -> None:
    """The options that shape the emulator's own store mean nothing over a backend."""
    given = {
        "--hub": hub,
        "--data-dir": data_dir is not None,
        "--private": bool(private),
        "--seed": seed is not None,
        "--break": bool(breaks),
        "--corrupt-tag": bool(corrupt_tags),
    }
    for flag, used in given.items():
        if used:
            raise click.UsageError(f"{flag} does not apply with --backend")


def _backend_side(options: dict[str, Any]) -> SideSettings:
    side = SideSettings(
        side="backend",
        creds=options["backend_creds"],
        no_creds=options["backend_no_creds"],
        authfile=options["backend_authfile"],
        tls_verify=options["backend_tls_verify"],
        cert_dir=options["backend_cert_dir"],
        password_stdin=options["backend_password_stdin"],
        rate=options["backend_rate"],
        max_connections=options["backend_max_connections"],
    )
    if side.creds is not None and side.no_creds:
        raise click.UsageError("--backend-creds and --backend-no-creds cannot be combined")
    if side.password_stdin and (side.creds is None or ":" in side.creds):
        raise click.UsageError("--backend-password-stdin needs --backend-creds USER (no :PASSWORD)")
    return side


def _open_backend(
    text: str, side: SideSettings, ttl: float
) -> tuple[V2Face, contextlib.AbstractContextManager[object]]:
    """The face's storage over ``docker://HOST[:PORT][/PREFIX]`` or ``oci:DIR``, checked
    (a registry answers ``GET /v2/``, a directory holds a layout), and what closes it."""
    from docker_registry_v1.core.errors import DockerRegistryError  # noqa: PLC0415
    from docker_registry_v1.face import LayoutBackend, RegistryBackend, V2Face  # noqa: PLC0415
    from docker_registry_v1.formats.errors import LayoutError  # noqa: PLC0415
    from docker_registry_v1.formats.layout import OCILayout  # noqa: PLC0415

    from .credentials import CredentialsError  # noqa: PLC0415
    from .reference import InvalidReference  # noqa: PLC0415
    from .sides import OCISide, side_origin  # noqa: PLC0415
    from .transports import parse_registry  # noqa: PLC0415

    try:
        location = parse_registry(text, "--backend")
    except InvalidReference as exc:
        fail(str(exc))
    if location.transport == "oci":
        if side.creds is not None or side.password_stdin:
            raise click.UsageError("--backend-creds is for a docker:// backend")
        directory = Path(location.directory)
        if not (directory / "oci-layout").is_file():
            fail(f"{text}: not an OCI image layout (no oci-layout file in {directory})")
        try:
            layout = OCILayout(directory)
        except (LayoutError, OSError) as exc:
            fail(f"{text}: {exc}")
        return V2Face(LayoutBackend(layout, text), ttl=ttl), layout
    if location.transport != "docker":
        fail(f"--backend {text}: expected docker://HOST[:PORT][/PREFIX] or oci:DIR")
    url = side_origin(side, location.api_host, location.port, location.scheme)
    try:
        opened = OCISide(NO_OPTIONS, side, url, location.netloc)
    except CredentialsError as exc:
        fail(str(exc))
    try:
        opened.client.ping()
    except DockerRegistryError as exc:
        opened.explain(exc)
        opened.close()
        notes = "; ".join(getattr(exc, "__notes__", []))
        fail(f"backend {location.netloc}: {exc}" + (f" ({notes})" if notes else ""))
    label = f"docker://{location.netloc}" + (f"/{location.path}" if location.path else "")
    face = V2Face(RegistryBackend(opened.client, label), prefix=location.path, ttl=ttl)
    return face, opened
