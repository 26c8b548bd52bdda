"""``regv1 migrate --config FILE.yaml``: several sources and destinations in one file.

The file is the flags written down. Each key is the ``migrate`` flag of the same name
(a source's and a destination's keys are the ``--src-…``/``--dest-…`` ones without the
prefix), and its value is checked by that flag's own click type and by
:meth:`Selection.parse`, so a rule means in the file exactly what it means on the
command line and is written once. Each (source, destination) pair then runs as
``regv1 migrate SOURCE DEST --flags…`` would: the command's own callback is called once
per pair with the parameters those flags would have produced (anything the file does not
set keeps the command line's value or default), each pair with its own journal.

Everything is checked before the first request, and an error names the file and the line
of the key at fault (``FILE:12: unknown key 'exclud' (did you mean 'exclude'?)``), exit 1.
The YAML is read safely: no tags (``!…``), anchors or aliases (nothing builds an object,
nothing expands), no duplicate keys, at most :data:`MAX_BYTES`.

Shape (``docs/migration.md`` lists every key)::

    version: 1
    defaults:                                   # optional: rules and settings for all
      exclude: ['^tmp/']
    migrations:
      - source:
          registry: old.example:5000            # SOURCE; or `source: HOST` alone
          creds: {username: reader, password-env: OLD_PASSWORD}
          rate: 5
        destinations:                           # one or more DEST
          - registry: docker://new.example:5000/legacy
            creds: {username: mover, password-file: new-password.txt}
          - oci:layout                          # a DEST alone
        include: ['^team1/']
        rename: ['^team1/=apps/']
        jobs: 4

Relative paths (``authfile``, ``cert-dir``, ``password-file``, ``journal``,
``repos-from``, ``oci:DIR``) are relative to the file's directory, as in other tools'
config files, so the file means the same from whichever directory it is run.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, NoReturn

import attrs
import click
import yaml
from click.core import ParameterSource

from docker_registry_v1.core.errors import InvalidInput
from docker_registry_v1.transfer.selection import Selection

from .exitcodes import EXIT_FAILED, EXIT_PARTIAL
from .options import CommandError, Settings, warn
from .output import visible
from .transports import parse_registry

__all__ = ["MAX_BYTES", "ConfigPair", "load_config", "run_config"]

#: A migration config is a few dozen lines; anything this big is the wrong file.
MAX_BYTES = 1024 * 1024
#: The file's shape is five levels deep; PyYAML's composer recurses once per level.
_MAX_DEPTH = 16

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"

#: file key → (the migrate parameter it sets, the kind of value it takes)
_RUN_KEYS: Mapping[str, tuple[str, str]] = {
    "include": ("include", "texts"),
    "exclude": ("exclude", "texts"),
    "tags": ("tag_pattern", "text"),
    "newer-than": ("newer_than", "text"),
    "last": ("last", "int"),
    "rename": ("rename", "texts"),
    "no-library": ("no_library", "bool"),
    "repos-from": ("repos_from", "path"),
    "jobs": ("jobs", "int"),
    "repositories": ("repositories_in_flight", "int"),
    "journal": ("journal_path", "path"),
    "skip-existing-tags": ("skip_existing_tags", "bool"),
    "create-repo-cmd": ("create_repo_cmd", "text"),
    "create-repo-timeout": ("create_repo_timeout", "number"),
    "manifest-format": ("manifest_format", "text"),
    "no-provenance": ("no_provenance", "bool"),
}
#: run settings a destination may set for itself (its own wins over its migration's)
_DESTINATION_RUN_KEYS = frozenset(
    {
        "journal",
        "skip-existing-tags",
        "create-repo-cmd",
        "create-repo-timeout",
        "manifest-format",
        "no-provenance",
    }
)
#: a side's keys → the ``--src-…``/``--dest-…`` parameter (without the side) and kind
_SIDE_KEYS: Mapping[str, tuple[str, str]] = {
    "creds": ("creds", "creds"),
    "no-creds": ("no_creds", "bool"),
    "authfile": ("authfile", "path"),
    "tls-verify": ("tls_verify", "bool"),
    "cert-dir": ("cert_dir", "path"),
    "rate": ("rate", "number"),
    "max-connections": ("max_connections", "int"),
}
#: the keys `Selection.parse` checks, one value at a time
_SELECTION_KEYS = ("include", "exclude", "rename", "tags", "newer-than", "last")
_CREDS_KEYS = ("username", "password-env", "password-file", "password")
_PASSWORD_KEYS = ("password-env", "password-file", "password")
_REGISTRY_ONLY = frozenset(_SIDE_KEYS) - {"rate"}
_V1_OR_DOCKER_SCHEMES = ("docker", "http", "https", "v1")

#: The flags the file replaces: given with --config, they are a usage error. Flags not
#: named here (--dry-run, --verify, --shard, --format, --timeout…) apply to every pair.
_REPLACED = frozenset(
    {
        "source",
        "destination",
        "creds",
        "authfile",
        "concurrency",
        "plain_http",
        "insecure",
        "ca_cert",
        "username",
        "password_stdin",
        *(name for name, _ in _RUN_KEYS.values()),
        *(
            f"{side}_{name}"
            for side in ("src", "dest")
            for name in (*(n for n, _ in _SIDE_KEYS.values()), "password_stdin")
        ),
    }
)


@attrs.frozen
class ConfigPair:
    """One (source, destination) pair of the file: what to call it and the parameters of
    its ``regv1 migrate`` call (the password among them, hence no repr)."""

    number: int
    source: str
    destination: str
    line: int
    params: Mapping[str, Any] = attrs.field(repr=False)

    @property
    def label(self) -> str:
        return f"{self.source} -> {self.destination}"


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    kinds = {_INT: "a number", _FLOAT: "a number", _BOOL: "true/false", _NULL: "nothing"}
    return kinds.get(str(node.tag), f"the text {node.value!r}")


def _close_match(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known keys: {', '.join(sorted(known))})"


class _Reader:
    """Walks one composed file, failing with ``FILE:LINE: …`` on the first thing wrong."""

    def __init__(self, path: Path, ctx: click.Context) -> None:
        self.file = path
        self.base = path.resolve().parent
        self.ctx = ctx
        self.params = {p.name: p for p in ctx.command.params if p.name is not None}
        self._constructor = yaml.constructor.SafeConstructor()
        #: pair number → its destination's node (for errors about the pair)
        self.nodes: dict[int, yaml.Node] = {}

    def fail(self, node: yaml.Node, message: str) -> NoReturn:
        raise CommandError(f"{self.file}:{_line(node)}: {message}")

    def mapping(
        self, node: yaml.Node, what: str, known: Collection[str]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """``node``'s keys (each one of ``known``, once) → (key node, value node)."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping (KEY: VALUE lines), not {_describe(node)}")
        found: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag != _STR:
                self.fail(key, f"{what}: keys are names, not {_describe(key)}")
            name = str(key.value)
            if name not in known:
                self.fail(key, f"unknown key {name!r}{_close_match(name, known)}")
            if name in found:
                self.fail(key, f"{name!r} given twice (first on line {_line(found[name][0])})")
            found[name] = (key, value)
        return found

    def text(self, key: str, node: yaml.Node) -> str:
        """A scalar as written (``tags: 1.0`` is the text ``1.0``, not a float)."""
        if not isinstance(node, yaml.ScalarNode) or node.tag in {_NULL, _BOOL}:
            self.fail(node, f"{key}: expected text, not {_describe(node)}")
        return str(node.value)

    def texts(self, key: str, node: yaml.Node) -> list[tuple[yaml.Node, str]]:
        """One text or a list of them, each with its node (for its line)."""
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        return [(item, self.text(key, item)) for item in items]

    def scalar(self, key: str, node: yaml.Node, tags: Collection[str], expected: str) -> Any:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in tags:
            self.fail(node, f"{key}: expected {expected}, not {_describe(node)}")
        return self._constructor.construct_object(node)

    def convert(self, key: str, node: yaml.Node, name: str, value: Any) -> Any:
        """``value`` through the flag's own click type (ranges, choices, paths)."""
        param = self.params[name]
        try:
            return param.type.convert(value, param, self.ctx)
        except click.BadParameter as exc:
            self.fail(node, f"{key}: {exc.message}")

    def path(self, key: str, node: yaml.Node) -> Path:
        return self.base / Path(self.text(key, node)).expanduser()

    def value(self, key: str, node: yaml.Node, name: str, kind: str) -> Any:
        """The parameter ``name``'s value from ``node``, checked as the flag checks it."""
        if kind == "texts":
            items = self.texts(key, node)
            return tuple(self.convert(key, item, name, text) for item, text in items)
        if kind == "text":
            return self.convert(key, node, name, self.text(key, node))
        if kind == "bool":
            return self.convert(key, node, name, self.scalar(key, node, {_BOOL}, "true or false"))
        if kind == "int":
            number = self.scalar(key, node, {_INT}, "a whole number")
            return self.convert(key, node, name, number if name != "last" else str(number))
        if kind == "number":
            number = float(self.scalar(key, node, {_INT, _FLOAT}, "a number"))
            if not math.isfinite(number):
                self.fail(node, f"{key}: expected a finite number, not {number}")
            return self.convert(key, node, name, number)
        path = self.path(key, node)
        if name == "repos_from":  # a plain text option: the file must be there now
            checked = click.Path(exists=True, dir_okay=False)
            try:
                checked.convert(str(path), self.params[name], self.ctx)
            except click.BadParameter as exc:
                self.fail(node, f"{key}: {exc.message}")
            return str(path)
        return self.convert(key, node, name, str(path))

    def creds(self, node: yaml.Node) -> str:
        """``USER:PASSWORD`` for ``--src-creds``/``--dest-creds``, the password from an
        environment variable, a file (its first line) or, discouraged, the file itself."""
        keys = self.mapping(node, "creds", _CREDS_KEYS)
        if "username" not in keys:
            self.fail(node, "creds: 'username' is missing")
        user_node = keys["username"][1]
        username = self.text("username", user_node)
        if not username or ":" in username:
            self.fail(user_node, "username: must be a non-empty name without ':'")
        given = [name for name in _PASSWORD_KEYS if name in keys]
        if len(given) != 1:
            self.fail(node, "creds: give one of password-env, password-file or password")
        how = given[0]
        where = keys[how][1]
        if how == "password-env":
            variable = self.text(how, where)
            password = os.environ.get(variable, "")
            if not password:
                self.fail(where, f"password-env: ${variable} is not set (or empty)")
        elif how == "password-file":
            secret = self.path(how, where)
            try:
                lines = secret.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                self.fail(where, f"password-file: {secret}: {reason}")
            password = lines[0] if lines else ""
            if not password:
                self.fail(where, f"password-file: {secret} is empty")
        else:
            password = self.text(how, where)
            warn(
                f"{self.file}:{_line(where)}: a password written in the file is discouraged; "
                "use password-env or password-file"
            )
        return f"{username}:{password}"

    def side(
        self, side: str, node: yaml.Node, extra: Collection[str] = ()
    ) -> tuple[str, dict[str, Any], dict[str, tuple[yaml.Node, yaml.Node]]]:
        """(the location as written, its ``--src/dest-…`` parameters, all its keys)."""
        what = "source" if side == "src" else "destination"
        if isinstance(node, yaml.ScalarNode):
            return self.text(what, node), {}, {}
        keys = self.mapping(node, what, {"registry", *_SIDE_KEYS, *extra})
        if "registry" not in keys:
            self.fail(node, f"{what}: 'registry' is missing")
        location = self.text("registry", keys["registry"][1])
        params: dict[str, Any] = {}
        for key, (name, kind) in _SIDE_KEYS.items():
            if key not in keys:
                continue
            value_node = keys[key][1]
            if kind == "creds":
                params[f"{side}_{name}"] = self.creds(value_node)
            else:
                params[f"{side}_{name}"] = self.value(key, value_node, f"{side}_{name}", kind)
        if "creds" in keys and params.get(f"{side}_no_creds"):
            self.fail(keys["no-creds"][0], "creds and no-creds cannot be combined")
        return location, params, keys

    def rules(self, keys: Mapping[str, tuple[yaml.Node, yaml.Node]]) -> dict[str, Any]:
        """The run keys' parameters; the selection rules also through `Selection.parse`,
        element by element, so a bad pattern is reported on its own line."""
        params: dict[str, Any] = {}
        for key, (name, kind) in _RUN_KEYS.items():
            if key in keys:
                params[name] = self.value(key, keys[key][1], name, kind)
        for key in _SELECTION_KEYS:
            if key not in keys:
                continue
            value_node = keys[key][1]
            items = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for item in items:
                one = str(item.value)
                rule: dict[str, Any] = {"newer_than": one} if key == "newer-than" else {key: [one]}
                if key in {"tags", "last"}:
                    rule = {key: one}
                try:
                    Selection.parse(**rule)
                except InvalidInput as exc:
                    self.fail(item, f"{key}: {str(exc).removeprefix(f'{exc.field}: ')}")
        return params


def _location_key(reader: _Reader, node: yaml.Node, text: str, role: str) -> tuple[str, ...]:
    """Check ``text`` as SOURCE (a v1 registry) or DEST; the key that tells two apart."""
    scheme = text.partition("://")[0].lower() if "://" in text else None
    if scheme is not None and scheme not in _V1_OR_DOCKER_SCHEMES:
        reader.fail(
            node, f"{role}: {text!r} is of an unknown kind (docker://…, oci:DIR, a v1 HOST…)"
        )
    try:
        location = parse_registry(text, role)
    except InvalidInput as exc:
        reader.fail(node, f"{role}: {str(exc).removeprefix(f'{exc.field}: ')}")
    if role == "source" and location.transport != "v1":
        reader.fail(
            node, f"source: {text!r}: migrate reads a v1 registry: HOST[:PORT][/REPO] or http://…"
        )
    if location.transport == "oci":
        return ("oci", str((reader.base / location.directory).resolve()))
    return (location.transport, location.netloc.lower(), location.path.strip("/"))


def _compose(path: Path) -> yaml.Node:
    """The file's one YAML document as nodes (with their lines), read safely."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise CommandError(f"{path}: larger than {MAX_BYTES // 1024} KiB; is it the right file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not UTF-8 text") from None
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            line = int(getattr(event.start_mark, "line", 0)) + 1
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > _MAX_DEPTH:  # the composer recurses once per level
                    raise CommandError(f"{path}:{line}: nested more than {_MAX_DEPTH} deep")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise CommandError(
                    f"{path}:{line}: YAML anchors and aliases (&, *) are not accepted; "
                    "write each value out"
                )
            if getattr(event, "tag", None) is not None:
                raise CommandError(f"{path}:{line}: YAML tags (!…) are not accepted")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = str(path) if mark is None else f"{path}:{int(getattr(mark, 'line', 0)) + 1}"
        raise CommandError(f"{where}: not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise CommandError(f"{path}: not valid YAML: {exc}") from None
    if node is None:
        raise CommandError(f"{path}: empty; it needs 'migrations:'")
    return node


def load_config(path: Path, ctx: click.Context) -> list[ConfigPair]:
    """Every pair of the file at ``path``, checked (no request), in file order.

    ``ctx``: the ``migrate`` invocation; its parameters (the command line's values and
    defaults) are the base each pair's parameters start from.
    """
    reader = _Reader(path, ctx)
    root = reader.mapping(_compose(path), "the file", {"version", "defaults", "migrations"})
    if "version" in root:
        version_node = root["version"][1]
        if reader.scalar("version", version_node, {_INT}, "1") != 1:
            reader.fail(version_node, "version: only version 1 exists")
    if "migrations" not in root:
        raise CommandError(f"{path}: 'migrations:' is missing")
    migrations = root["migrations"][1]
    if not isinstance(migrations, yaml.SequenceNode) or not migrations.value:
        reader.fail(migrations, "migrations: expected a list of one or more migrations")
    defaults = {}
    if "defaults" in root:
        defaults = reader.mapping(root["defaults"][1], "defaults", _RUN_KEYS)
        if "journal" in defaults:
            reader.fail(
                defaults["journal"][0],
                "journal: each pair has its own; give it in a migration or a destination",
            )
        reader.rules(defaults)  # checked once, where they are written
    pairs: list[ConfigPair] = []
    journals: dict[Path, int] = {}
    for job in migrations.value:
        for pair in _job_pairs(reader, job, defaults, first=len(pairs) + 1):
            journal = pair.params.get("journal_path")
            if journal is not None:
                resolved = Path(journal).resolve()
                if resolved in journals:
                    reader.fail(
                        reader.nodes[pair.number],
                        f"journal {journal} is also the journal of line {journals[resolved]}",
                    )
                journals[resolved] = pair.line
            pairs.append(pair)
    return pairs


def _job_pairs(
    reader: _Reader,
    job: yaml.Node,
    defaults: Mapping[str, tuple[yaml.Node, yaml.Node]],
    first: int,
) -> list[ConfigPair]:
    """One migration's pairs: its source with each of its destinations; its own keys win
    over ``defaults``, which an error then still names on their own line."""
    keys = {
        **defaults,
        **reader.mapping(job, "a migration", {"source", "destinations", *_RUN_KEYS}),
    }
    for required in ("source", "destinations"):
        if required not in keys:
            reader.fail(job, f"a migration needs '{required}'")
    source_node = keys["source"][1]
    source, source_params, _ = reader.side("src", source_node)
    source_key = _location_key(reader, source_node, source, "source")
    job_params = reader.rules(keys)
    if "repos-from" in keys and source_key[2]:
        reader.fail(keys["repos-from"][0], "repos-from: the source names one repository")
    targets = keys["destinations"][1]
    if not isinstance(targets, yaml.SequenceNode) or not targets.value:
        reader.fail(targets, "destinations: expected a list of one or more destinations")
    if "journal" in keys and len(targets.value) > 1:
        reader.fail(
            keys["journal"][0],
            "journal: several destinations cannot share one journal; give each "
            "destination its own 'journal' (or none: one per pair by default)",
        )
    pairs: list[ConfigPair] = []
    seen: dict[tuple[str, ...], int] = {}
    for target in targets.value:
        destination, dest_params, given = reader.side("dest", target, _DESTINATION_RUN_KEYS)
        own = {k: v for k, v in given.items() if k in _DESTINATION_RUN_KEYS}
        dest_key = _location_key(reader, target, destination, "destination")
        if dest_key in seen:
            reader.fail(target, f"destination {destination!r} is also on line {seen[dest_key]}")
        seen[dest_key] = _line(target)
        if dest_key[0] == "oci":
            destination = f"oci:{dest_key[1]}"
            for key in sorted(_REGISTRY_ONLY & set(given)):
                reader.fail(given[key][0], f"{key}: only for registry destinations, not oci:DIR")
        params = {**reader.ctx.params, **job_params, **source_params, **dest_params}
        params.update(reader.rules(own))
        if params.get("create_repo_cmd") and dest_key[0] != "docker":
            key_node = (own.get("create-repo-cmd") or keys["create-repo-cmd"])[0]
            reader.fail(key_node, "create-repo-cmd: only for docker:// destinations")
        params.update(source=source, destination=destination, config_file=None)
        number = first + len(pairs)
        reader.nodes[number] = target
        pairs.append(ConfigPair(number, source, destination, _line(target), params))
    return pairs


def _refuse_flags(ctx: click.Context) -> None:
    """``--config`` with SOURCE/DEST or a flag the file has a key for: which one wins
    would be a guess, so neither does."""
    given = []
    for param in ctx.command.params:
        if param.name not in _REPLACED:
            continue
        source = ctx.get_parameter_source(param.name)
        if source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            given.append(
                max(param.opts, key=len)
                if isinstance(param, click.Option)
                else param.human_readable_name
            )
    if given:
        raise click.UsageError(
            f"--config cannot be combined with {', '.join(given)}: the file gives sources, "
            "destinations, logins and rules (see docs/migration.md)"
        )


def _announce(settings: Settings, pair: ConfigPair, count: int) -> None:
    """Which pair the report that follows is about: a line above it on stdout, or (JSON,
    whose stdout holds only the reports) an event on stderr."""
    if settings.json:
        event = {
            "event": "pair",
            "number": pair.number,
            "pairs": count,
            "source": pair.source,
            "destination": pair.destination,
        }
        sys.stderr.write(json.dumps(event, sort_keys=True) + "\n")
        sys.stderr.flush()
    else:
        click.echo(f"pair {pair.number}/{count}: {visible(pair.label)}")


def run_config(path: Path, settings: Settings) -> None:
    """Check the file, then migrate each pair in order as ``regv1 migrate`` with its flags.

    Exit status: the worst of the pairs (0, 2 when a pair had failed tags or could not
    start); 1 only when no pair could start. Ctrl-C stops at once (130).
    """
    ctx = click.get_current_context()
    _refuse_flags(ctx)
    pairs = load_config(path, ctx)
    command = ctx.command.callback
    if command is None:  # pragma: no cover - migrate is a command with a callback
        raise click.UsageError("--config needs the migrate command")
    started = troubled = 0
    for pair in pairs:
        _announce(settings, pair, len(pairs))
        try:
            command(**pair.params)
        except click.exceptions.Exit as exc:
            if exc.exit_code != EXIT_PARTIAL:
                raise
            started += 1
            troubled += 1
        except click.ClickException as exc:
            CommandError(f"{pair.label}: {exc.format_message()}").show()
            troubled += 1
        else:
            started += 1
    if started == 0:
        raise click.exceptions.Exit(EXIT_FAILED)
    if troubled:
        raise click.exceptions.Exit(EXIT_PARTIAL)
