"""The package as a user gets it: the sdist and the wheel built from it, installed with pip into
fresh virtualenvs, one per extra set, and run as the ``regv1`` script.

The build and the three installs happen once per session. The virtualenvs are made without
their own pip (ensurepip costs seconds each); the dev environment's pip installs into them
with ``--python``, resolving and fetching the real dependencies as ``pip install`` does.
The registries the installed copies talk to are emulators from the dev environment and,
for ``copy``/``migrate`` into v2, Debian's distribution (tests/v2/v2registry.py).
"""

from __future__ import annotations

import ast
import email.parser
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator, Mapping
from email.message import Message
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from docker_registry_v1 import __version__
from docker_registry_v1.emulator import Emulator
from docker_registry_v1.emulator.pytest_plugin import EmulatorFactory
from docker_registry_v1.emulator.seed import build_image_chain
from system_tools import require_tool
from v2.v2registry import V2Registry, run_registry

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "overlay" / "docker_registry_v1"
EXTRA_SETS = {"base": "", "cli": "[cli]", "full": "[cli,emulator]"}
SERVER_STACK = ("starlette", "uvicorn", "pydantic")
#: The wheel's top-level packages: the hand-kept one and the generated ones.
OUR_PACKAGES = (
    "docker_registry_v1",
    "docker_registry_v1_api",
    "docker_registry_v1_models",
    "oci_distribution_api",
)


@attrs.frozen
class Dist:
    wheel: Path
    sdist: Path

    def metadata(self) -> Message:
        with zipfile.ZipFile(self.wheel) as wheel:
            (name,) = (n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            return email.parser.Parser().parsestr(wheel.read(name).decode())


@attrs.frozen
class Venv:
    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def run(
        self, *argv: str, env: Mapping[str, str], timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a program of this venv (``regv1``, ``python``) with a clean environment."""
        return subprocess.run(
            [str(self.bin / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """``python -m build``: the sdist, then the wheel built from the unpacked sdist."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Dist(wheel=wheel, sdist=sdist)


@pytest.fixture(scope="session")
def venvs(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Venv]:
    made: dict[str, Venv] = {}
    for label, extras in EXTRA_SETS.items():
        root = tmp_path_factory.mktemp(f"venv-{label}")
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120
        )
        venv = Venv(root)
        pip = [sys.executable, "-m", "pip", "--python", str(venv.bin / "python")]
        subprocess.run(
            [*pip, "install", "--quiet", "--disable-pip-version-check", f"{dist.wheel}{extras}"],
            check=True,
            capture_output=True,
            timeout=240,
        )
        made[label] = venv
    return made


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No REGV1_* settings, empty credential files, no colour: what a fresh shell has.

    The caches, journals and auth files the commands would keep under the user's home
    go under the test's directory instead.
    """
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REGV1_", "VIRTUAL_ENV", "PYTHON", "XDG_", "REGISTRY_AUTH_FILE"))
    }
    (tmp_path / "docker-config").mkdir()
    clean.update(DOCKER_CONFIG=str(tmp_path / "docker-config"), NO_COLOR="1", TERM="dumb")
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"):
        clean[name] = str(tmp_path / name.lower())
    return clean


@pytest.fixture
def seeded(standalone: Emulator) -> tuple[str, str]:
    """A registry holding ``acme/app:1.0``: its ``HOST:PORT`` and the tip image id."""
    chain = build_image_chain(2, seed=7, layer_size=2048)
    standalone.store.seed("acme/app", "1.0", chain)
    return standalone.url.removeprefix("http://").rstrip("/"), chain[-1].id


def _one_error_line(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def _assert_loadable_archive(path: Path, image_id: str) -> None:
    with tarfile.open(path) as archive:
        names = archive.getnames()
        manifest = archive.extractfile("manifest.json")
        assert manifest is not None
        assert b"acme/app:1.0" in manifest.read()
    assert f"{image_id}/layer.tar" in names


# -- what was built ------------------------------------------------------------------------


def test_wheel_metadata_has_the_license_classifiers_and_entry_point(dist: Dist) -> None:
    meta = dist.metadata()
    assert meta["Name"] == "docker-registry-v1"
    assert meta["Version"] == __version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    classifiers = meta.get_all("Classifier") or []
    for expected in (
        "Programming Language :: Python :: 3.11",
        "Typing :: Typed",
        "Environment :: Console",
    ):
        assert expected in classifiers
    assert "docker" in (meta["Keywords"] or "").split(",")
    assert meta.get_all("Provides-Extra") == ["cli", "copy", "emulator"]
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = wheel.namelist()
        (license_name,) = (n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
        assert b"Apache License" in wheel.read(license_name)
        (entry,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "regv1 = docker_registry_v1._entry:main" in wheel.read(entry).decode()
        assert "docker_registry_v1/py.typed" in names
        assert "docker_registry_v1_api/client.py" in names
        assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]


def test_sdist_holds_what_the_wheel_is_built_from(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for expected in (
        "pyproject.toml",
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "openapi/registry-v1.yaml",
        "overlay/docker_registry_v1/__init__.py",
        "generated/docker_registry_v1_api/client.py",
    ):
        assert expected in names


def test_long_description_has_no_relative_links(dist: Dist) -> None:
    """A package index shows the README without the repository, so a relative link is dead."""
    description = dist.metadata().get_payload()
    assert isinstance(description, str)
    assert "make test" in description
    targets = re.findall(r"\]\(([^)]*)\)", description)
    assert [t for t in targets if not t.startswith(("https://", "http://", "#"))] == []


def _direct_imports(path: Path) -> set[str]:
    """Top-level modules a file imports at run time (``if TYPE_CHECKING:`` blocks excluded)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name.split(".")[0] for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.add(child.module.split(".")[0])
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


#: Subpackages whose extra is named for what it enables rather than for the subpackage.
EXTRA_OF_SUBPACKAGE = {"formats": "copy"}


def test_every_direct_import_is_declared_in_the_right_extra(dist: Dist) -> None:
    requires: dict[str, set[str]] = {}
    for line in dist.metadata().get_all("Requires-Dist") or []:
        name = re.split(r"[ <>=;\[]", line, maxsplit=1)[0].lower()
        extra = re.search(r"extra == '([^']+)'", line)
        requires.setdefault(extra.group(1) if extra else "", set()).add(name)
    distributions = importlib.metadata.packages_distributions()
    ours = set(OUR_PACKAGES)
    undeclared: list[str] = []
    for path in sorted(OVERLAY.rglob("*.py")):
        part = path.relative_to(OVERLAY).parts[0]
        allowed = requires[""] | requires.get(EXTRA_OF_SUBPACKAGE.get(part, part), set())
        for module in sorted(_direct_imports(path) - ours - set(sys.stdlib_module_names)):
            if path.name == "pytest_plugin.py" and module == "pytest":
                continue  # loaded by pytest itself, so pytest is there whenever it runs
            names = {d.lower() for d in distributions.get(module, [module])}
            if not names & allowed:
                undeclared.append(f"{path.relative_to(ROOT)}: {module}")
    assert undeclared == []


def _module_path(module: str) -> Path | None:
    """The overlay file of ``docker_registry_v1.a.b`` (a module or a package)."""
    parts = module.split(".")
    if parts[0] != "docker_registry_v1":
        return None
    base = OVERLAY.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports_of(module: str, path: Path) -> tuple[set[str], set[str]]:
    """What ``module`` imports when it runs, lazy imports in functions included: top-level
    names from outside the package, and the package's own modules (relative ones resolved)."""
    outside: set[str] = set()
    own: set[str] = set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]

    def add(name: str, members: list[str]) -> None:
        if not name.startswith("docker_registry_v1"):
            outside.add(name.split(".", maxsplit=1)[0])
            return
        own.add(name)
        own.update(f"{name}.{m}" for m in members if _module_path(f"{name}.{m}") is not None)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, [])
            elif isinstance(child, ast.ImportFrom):
                base = package[: len(package) - child.level + 1] if child.level else []
                name = ".".join([*base, *([child.module] if child.module else [])])
                add(name, [alias.name for alias in child.names])
            visit(child)

    visit(ast.parse(path.read_text()))
    return outside, own


def test_the_cli_extra_brings_what_every_command_but_serve_imports(dist: Dist) -> None:
    """Follows the imports from ``docker_registry_v1.cli`` (lazy ones included) through the
    package, leaving out only the emulator, which ``serve`` loads and names its extra for."""
    allowed: set[str] = set()
    for line in dist.metadata().get_all("Requires-Dist") or []:
        extra = re.search(r"extra == '([^']+)'", line)
        if extra is None or extra.group(1) == "cli":
            allowed.add(re.split(r"[ <>=;\[]", line, maxsplit=1)[0].lower())
    distributions = importlib.metadata.packages_distributions()
    pending, seen, needed = ["docker_registry_v1.cli"], set(), {}
    while pending:
        module = pending.pop()
        path = _module_path(module)
        if module in seen or path is None or module.startswith("docker_registry_v1.emulator"):
            continue
        seen.add(module)
        outside, own = _imports_of(module, path)
        pending.extend(own)
        for name in outside - set(sys.stdlib_module_names) - {"_typeshed", *OUR_PACKAGES}:
            needed.setdefault(name, module)
    assert {"docker_registry_v1.cli.copy", "docker_registry_v1.formats.compress"} <= seen
    assert "isal" in needed  # the layer compression copy and migrate load when they run
    missing = {
        f"{needed[name]}: {name}"
        for name in needed
        if not {d.lower() for d in distributions.get(name, [name])} & allowed
    }
    assert missing == set()


# -- installed without extras ----------------------------------------------------------------


def test_runtime_only_install_imports_pulls_and_names_the_cli_extra(
    venvs: dict[str, Venv], env: dict[str, str], seeded: tuple[str, str], tmp_path: Path
) -> None:
    venv = venvs["base"]
    host, image_id = seeded
    script = (
        "import sys, docker_registry_v1 as d\n"
        "with d.Client(f'http://{sys.argv[1]}/v1/') as client:\n"
        "    print(sorted(client.repository.list_tags('acme/app')))\n"
        "    print(client.pull('acme/app', '1.0', sys.argv[2]).image_id)\n"
        "import importlib.util as u\n"
        "print([m for m in ('click', 'rich', 'starlette') if u.find_spec(m)])\n"
    )
    archive = tmp_path / "pulled.tar"
    done = venv.run("python", "-c", script, host, str(archive), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["['1.0']", image_id, "[]"]
    _assert_loadable_archive(archive, image_id)

    for argv in (["--version"], ["--help"], ["tags", f"{host}/acme/app"]):
        _one_error_line(venv.run("regv1", *argv, env=env), "cli extra", "docker-registry-v1[cli]")


# -- with the cli extra, and with cli and emulator ---------------------------------------------


@pytest.mark.parametrize("label", ["cli", "full"])
def test_regv1_version_help_tags_and_pull(
    venvs: dict[str, Venv],
    env: dict[str, str],
    seeded: tuple[str, str],
    tmp_path: Path,
    label: str,
) -> None:
    venv = venvs[label]
    host, image_id = seeded
    version = venv.run("regv1", "--version", env=env)
    assert (version.returncode, version.stdout.strip()) == (0, f"regv1, version {__version__}")

    usage = venv.run("regv1", "--help", env=env)
    assert usage.returncode == 0, usage.stderr
    for command in ("tags", "pull", "push", "mirror", "serve"):
        assert re.search(rf"^\s+{command}\s", usage.stdout, re.M), usage.stdout

    tags = venv.run("regv1", "tags", f"{host}/acme/app", env=env)
    assert tags.returncode == 0, tags.stderr
    assert "1.0" in tags.stdout
    assert image_id in tags.stdout

    archive = tmp_path / "app.tar"
    pulled = venv.run("regv1", "pull", f"{host}/acme/app:1.0", "-o", str(archive), env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "Traceback" not in pulled.stderr
    _assert_loadable_archive(archive, image_id)


def test_cli_extra_alone_runs_the_other_commands(
    venvs: dict[str, Venv], env: dict[str, str], seeded: tuple[str, str], tmp_path: Path
) -> None:
    """Commands import what they need when they run, so each is run once, not just --help."""
    venv = venvs["cli"]
    host, image_id = seeded
    archive = tmp_path / "app.tar"
    steps = [
        ["ping", host],
        ["search", "app", "--registry", host],
        ["image-id", f"{host}/acme/app:1.0"],
        ["ancestry", f"{host}/acme/app:1.0"],
        ["metadata", image_id, "--repo", f"{host}/acme/app"],
        ["pull", f"{host}/acme/app:1.0", "-o", str(archive)],
        ["push", str(archive), f"{host}/acme/copy"],
        ["mirror", f"{host}/acme/app", f"{host}/acme/mirrored", "--all-tags"],
        ["tag", f"{host}/acme/app:2.0", image_id],
        ["inventory", host, "--format", "csv"],
        ["tags", f"{host}/acme/mirrored"],
    ]
    outputs = []
    for argv in steps:
        done = venv.run("regv1", *argv, env=env)
        assert done.returncode == 0, (argv, done.stderr)
        assert "Traceback" not in done.stderr
        outputs.append(done.stdout)
    inventory, tags = outputs[-2:]
    for repository in ("acme/app", "acme/copy", "acme/mirrored"):
        assert repository in inventory
    assert image_id in tags


# -- copy and migrate, with the cli extra alone ------------------------------------------------

#: The schema2 manifest ``regv1 copy`` writes into a v2 registry by default.
SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture
def v2_dest(tmp_path: Path) -> Iterator[V2Registry]:
    """A real distribution of this test's own, without auth."""
    with run_registry("none", tmp_path / "v2") as registry:
        yield registry


@pytest.fixture
def v1_dest(emulator_factory: EmulatorFactory) -> str:
    """A second, empty v1 registry (the emulator, in this process): its ``HOST:PORT``."""
    return emulator_factory().url.removeprefix("http://").rstrip("/")


def _v2_manifest(registry: V2Registry, repo: str, tag: str) -> dict[str, Any]:
    tags = httpx.get(f"{registry.url}/v2/{repo}/tags/list", timeout=30)
    assert tags.status_code == 200, tags.text
    assert [t for t in tags.json()["tags"] if not t.startswith("sha256-")] == [tag]  # provenance
    answer = httpx.get(
        f"{registry.url}/v2/{repo}/manifests/{tag}", headers={"Accept": SCHEMA2}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    manifest: dict[str, Any] = answer.json()
    assert manifest["mediaType"] == SCHEMA2
    for layer in manifest["layers"]:  # every blob the manifest names was uploaded
        blob = httpx.head(f"{registry.url}/v2/{repo}/blobs/{layer['digest']}", timeout=30)
        assert blob.status_code == 200, layer
    return manifest


def _v1_tags(host: str, repo: str) -> dict[str, str]:
    answer = httpx.get(f"http://{host}/v1/repositories/{repo}/tags", timeout=30)
    assert answer.status_code == 200, answer.text
    tags: dict[str, str] = answer.json()
    return tags


def _skopeo_inspect(reference: str) -> dict[str, Any]:
    done = subprocess.run(
        [require_tool("skopeo"), "inspect", reference],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    inspected: dict[str, Any] = json.loads(done.stdout)
    return inspected


def _json_run(venv: Venv, env: dict[str, str], *argv: str) -> dict[str, Any]:
    done = venv.run("regv1", *argv, "--json", env=env, timeout=180)
    assert done.returncode == 0, (argv, done.stderr)
    assert "Traceback" not in done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def test_cli_extra_alone_copies_into_v2_oci_and_v1(
    venvs: dict[str, Venv],
    env: dict[str, str],
    seeded: tuple[str, str],
    v2_dest: V2Registry,
    v1_dest: str,
    tmp_path: Path,
) -> None:
    """``regv1 copy`` as a user with ``[cli]`` runs it, into each kind of destination."""
    venv = venvs["cli"]
    host, image_id = seeded
    source = f"{host}/acme/app:1.0"

    copied = _json_run(venv, env, "copy", source, f"docker://{v2_dest.host}/moved/app:1.0")
    manifest = _v2_manifest(v2_dest, "moved/app", "1.0")
    assert len(manifest["layers"]) == 2
    assert copied["digest"].startswith("sha256:")

    layout = tmp_path / "layout"
    into_oci = _json_run(venv, env, "copy", source, f"oci:{layout}:app-1.0")
    inspected = _skopeo_inspect(f"oci:{layout}:app-1.0")
    assert inspected["Digest"] == into_oci["digest"]
    assert len(inspected["Layers"]) == 2

    _json_run(venv, env, "copy", source, f"{v1_dest}/acme/copied:1.0")
    assert _v1_tags(v1_dest, "acme/copied") == {"1.0": image_id}


def test_cli_extra_alone_migrates_into_v2_oci_and_v1(
    venvs: dict[str, Venv],
    env: dict[str, str],
    seeded: tuple[str, str],
    standalone: Emulator,
    v2_dest: V2Registry,
    v1_dest: str,
    tmp_path: Path,
) -> None:
    """``regv1 migrate`` of a whole registry (two repositories) as a ``[cli]`` user runs it."""
    venv = venvs["cli"]
    host, image_id = seeded
    other = build_image_chain(1, seed=8, layer_size=1024)
    standalone.store.seed("team/tool", "2.0", other)
    expected = {"acme/app": ("1.0", image_id), "team/tool": ("2.0", other[-1].id)}

    def migrated(destination: str) -> set[str]:
        document = _json_run(venv, env, "migrate", host, destination)
        assert {t["status"] for t in document["tags"]} == {"copied"}, document["tags"]
        return {t["source"] for t in document["tags"]}

    sources = {f"{repo}:{tag}" for repo, (tag, _) in expected.items()}
    assert migrated(f"docker://{v2_dest.host}/legacy") == sources
    for repo, (tag, _) in expected.items():
        assert _v2_manifest(v2_dest, f"legacy/{repo}", tag)["layers"]
    verified = _json_run(venv, env, "migrate", "--verify", host, f"docker://{v2_dest.host}/legacy")
    assert (verified["checked"], verified["mismatches"]) == (2, [])

    layout = tmp_path / "migrated"
    assert migrated(f"oci:{layout}") == sources
    for repo, (tag, _) in expected.items():
        assert _skopeo_inspect(f"oci:{layout}:{repo}:{tag}")["Layers"]

    assert migrated(v1_dest) == sources
    for repo, (tag, tip) in expected.items():
        assert _v1_tags(v1_dest, repo) == {tag: tip}


def test_cli_extra_alone_lacks_the_server_stack_and_serve_says_so(
    venvs: dict[str, Venv], env: dict[str, str]
) -> None:
    venv = venvs["cli"]
    probe = "import importlib.util as u, sys; print([m for m in sys.argv[1:] if u.find_spec(m)])"
    installed = venv.run("python", "-c", probe, *SERVER_STACK, "click", "rich", env=env)
    assert installed.stdout.strip() == "['click', 'rich']"

    assert venv.run("regv1", "serve", "--help", env=env).returncode == 0
    _one_error_line(
        venv.run("regv1", "serve", "--port", "0", env=env),
        "emulator extra",
        "docker-registry-v1[cli,emulator]",
    )


def test_help_imports_no_emulator_module_even_when_installed(
    venvs: dict[str, Venv], env: dict[str, str]
) -> None:
    """With everything installed, ``--help`` still loads none of the server stack."""
    probe = (
        "import sys\n"
        "from docker_registry_v1.cli import main\n"
        "try:\n"
        "    main(['--help'], prog_name='regv1')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "heavy = ('docker_registry_v1.emulator', *sys.argv[1:])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(heavy))\n"
        "print('loaded:', loaded, file=sys.stderr)\n"
        "import starlette, uvicorn, pydantic\n"  # present: the check above was not vacuous
    )
    done = venvs["full"].run("python", "-c", probe, *SERVER_STACK, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "loaded: []"
    assert "Usage: regv1" in done.stdout


def test_full_install_serves_and_talks_to_itself(
    venvs: dict[str, Venv], env: dict[str, str]
) -> None:
    venv = venvs["full"]
    server = subprocess.Popen(
        [str(venv.bin / "regv1"), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        role, _, url = server.stdout.readline().strip().partition(": ")
        assert role == "registry", server.stderr.read() if server.stderr else ""
        host = url.removeprefix("http://")
        ping = venv.run("regv1", "ping", host, env=env)
        assert ping.returncode == 0, ping.stderr
        empty = venv.run("regv1", "tags", f"{host}/acme/none", env=env)
        assert empty.returncode == 1
        assert "Traceback" not in empty.stderr
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
