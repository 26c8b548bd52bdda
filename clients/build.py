"""Generate clients in other languages from openapi/registry-v1.yaml, compile them, and run each
one's smoke program against a live v1 registry on 127.0.0.1.

Compiling proves little about a generated client: the generators here happily emit code that
drops a tag map or cannot decode `{}`. So every language also talks to the project's emulator
over a real socket and compares what it got with what was pushed. The repository is pushed
with the generated Python client, so the spec drives both ends of the exchange.

Usage: ``.venv/bin/python clients/build.py typescript go [java rust]``
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import attrs
import httpx
from docker_registry_v1.emulator import run_standalone
from docker_registry_v1.emulator.seed import SeedImage, build_image_chain
from docker_registry_v1_api import Client
from docker_registry_v1_api.api.registry import (
    add_image_layer,
    add_image_metadata,
    put_image_checksum,
    set_tag,
)
from docker_registry_v1_api.models import ImageJson
from docker_registry_v1_api.types import File

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "openapi" / "registry-v1.yaml"
# The OCI Distribution spec's clients are generated and compiled with the same projects
# (the smoke programs import them); the harness runs only the v1 emulator, so they are
# compile-checked, not run.
OCI_SPEC = ROOT / "openapi" / "oci-distribution.yaml"
CLIENTS = ROOT / "clients"
BUILD = ROOT / "build" / "clients"
NODE_BIN = ROOT / "tools" / "node" / "node_modules" / ".bin"
# The venv's own bin directory: build.py runs as .venv/bin/python, which need not be on PATH.
VENV_BIN = Path(sys.executable).parent

NAMESPACE = "clients"
REPOSITORY = "smoke"
TAG = "latest"
CHAIN_LENGTH = 3
TOOL_TIMEOUT = 1200.0  # seconds; a cold cargo or Maven build downloads its dependencies

# Per-run switches that keep openapi-generator's output to the client itself.
OPENAPI_GENERATOR_GLOBALS = "apiTests=false,modelTests=false,apiDocs=false,modelDocs=false"


class StepError(Exception):
    """A tool exited non-zero or a smoke program reported a mismatch; carries its output."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


@attrs.frozen
class Expected:
    """What the seeded registry holds: the values every smoke program must read back."""

    url: str
    namespace: str
    repository: str
    tag: str
    image_id: str
    ancestry: tuple[str, ...]

    def env(self) -> dict[str, str]:
        return {
            "REGV1_URL": self.url,
            "REGV1_NAMESPACE": self.namespace,
            "REGV1_REPOSITORY": self.repository,
            "REGV1_TAG": self.tag,
            "REGV1_IMAGE_ID": self.image_id,
            "REGV1_ANCESTRY": ",".join(self.ancestry),
        }


def tool(path: Path | str) -> str:
    """The absolute path of a tool, or a clear error naming what is missing."""
    found = shutil.which(str(path))
    if found is None:
        raise StepError(f"required tool not found: {path}")
    return found


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run a tool, return its combined output, raise StepError (with the output) on failure."""
    command = [str(arg) for arg in argv]
    try:
        done = subprocess.run(  # noqa: S603 - argv is built here from fixed tool paths
            command,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TOOL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StepError(f"timed out after {TOOL_TIMEOUT:.0f} s: {' '.join(command)}") from exc
    if done.returncode != 0:
        raise StepError(f"exit {done.returncode}: {' '.join(command)}", done.stdout)
    return done.stdout


def fresh(directory: Path) -> Path:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    return directory


def openapi_generator(generator: str, out: Path, *options: str, spec: Path = SPEC) -> None:
    run(
        [
            tool(VENV_BIN / "openapi-generator-cli"),
            "generate",
            "--generator-name",
            generator,
            "--input-spec",
            spec,
            "--output",
            out,
            "--global-property",
            OPENAPI_GENERATOR_GLOBALS,
            *options,
        ],
        cwd=ROOT,
    )


# --- languages ---------------------------------------------------------------------------


@attrs.frozen
class Language:
    """How to generate, compile and smoke-run one language's client.

    ``smoke`` returns the command that runs the compiled smoke program, which reads the
    expected values from ``REGV1_*`` variables; None when the language has no smoke program.
    """

    name: str
    generator: str
    generate: Callable[[Path], None]
    build: Callable[[Path], None]
    smoke: Callable[[Path], list[str]] | None


def generate_typescript(out: Path) -> None:
    # The committed smoke project is staged next to the generated code so the compiled
    # output sits under its package.json ("type": "module").
    project = CLIENTS / "typescript"
    shutil.copytree(project / "src", out / "src")
    for name in ("package.json", "tsconfig.json"):
        shutil.copy2(project / name, out / name)
    run([tool(NODE_BIN / "openapi-ts"), "--file", project / "openapi-ts.config.mjs"], cwd=ROOT)
    run([tool(NODE_BIN / "openapi-ts"), "--file", project / "openapi-ts.oci.config.mjs"], cwd=ROOT)


def build_typescript(out: Path) -> None:
    run([tool(NODE_BIN / "tsc"), "--project", out / "tsconfig.json"], cwd=out)


def smoke_typescript(out: Path) -> list[str]:
    return [tool("node"), str(out / "dist" / "smoke.js")]


def generate_go(out: Path) -> None:
    openapi_generator(
        "go",
        out,
        # clients/go/go.mod replaces this module path with build/clients/go.
        "--git-host=example.com",
        "--git-user-id=docker-registry-v1",
        "--git-repo-id=goclient",
        "--additional-properties=packageName=regv1,withGoMod=true",
    )
    # clients/go/go.mod replaces the OCI module path with build/clients/go-oci.
    openapi_generator(
        "go",
        fresh(out.parent / "go-oci"),
        "--git-host=example.com",
        "--git-user-id=docker-registry-v1",
        "--git-repo-id=ociclient",
        "--additional-properties=packageName=oci,withGoMod=true",
        spec=OCI_SPEC,
    )


def build_go(out: Path) -> None:
    run(
        [tool("go"), "build", "-buildvcs=false", "-o", out / "smoke", "."],
        cwd=CLIENTS / "go",
    )


def smoke_go(out: Path) -> list[str]:
    return [str(out / "smoke")]


def generate_java(out: Path) -> None:
    openapi_generator(
        "java",
        out,
        "--additional-properties="
        "groupId=example.dockerregistryv1,artifactId=regv1-client,artifactVersion=0.1.0,"
        "invokerPackage=example.regv1,apiPackage=example.regv1.api,"
        "modelPackage=example.regv1.model,hideGenerationTimestamp=true",
    )


def build_java(out: Path) -> None:
    run(
        [tool("mvn"), "--batch-mode", "--quiet", "package", "-DskipTests", "-Dmaven.javadoc.skip"],
        cwd=out,
    )


def generate_rust(out: Path) -> None:
    openapi_generator("rust", out, "--additional-properties=packageName=regv1-client")


def build_rust(out: Path) -> None:
    run([tool("cargo"), "build", "--quiet"], cwd=out)


LANGUAGES: dict[str, Language] = {
    lang.name: lang
    for lang in (
        Language(
            "typescript",
            "@hey-api/openapi-ts",
            generate_typescript,
            build_typescript,
            smoke_typescript,
        ),
        Language("go", "openapi-generator go", generate_go, build_go, smoke_go),
        Language("java", "openapi-generator java", generate_java, build_java, None),
        Language("rust", "openapi-generator rust", generate_rust, build_rust, None),
    )
}


def smoke_command(language: str) -> list[str]:
    """The command that runs ``language``'s compiled smoke program (for tests)."""
    smoke = LANGUAGES[language].smoke
    if smoke is None:
        raise ValueError(f"{language} has no smoke program")
    return smoke(BUILD / language)


# --- the live registry -------------------------------------------------------------------


def push_chain(base_url: str, images: Sequence[SeedImage]) -> Expected:
    """Push ``images`` (base first) and tag the tip, through the generated Python client.

    The generated ``add_image_metadata`` re-serialises the image JSON from its model, so the
    bytes on the wire differ from ``json_bytes``. The payload checksum must cover exactly
    what the server stored, so it is computed over the request body actually sent.
    """
    sent_json: dict[str, bytes] = {}

    def remember_json(request: httpx.Request) -> None:
        if request.method == "PUT" and request.url.path.endswith("/json"):
            sent_json[request.url.path] = request.content

    def require_ok(what: str, status: int, content: bytes) -> None:
        if status != 200:
            raise StepError(f"seeding: {what} answered {status}", content.decode(errors="replace"))

    client = Client(base_url=base_url, httpx_args={"event_hooks": {"request": [remember_json]}})
    with client:
        for image in images:
            metadata = ImageJson.from_dict(json.loads(image.json_bytes))
            answer = add_image_metadata.sync_detailed(image.id, client=client, body=metadata)
            require_ok(f"PUT json {image.id}", answer.status_code, answer.content)
            answer = add_image_layer.sync_detailed(
                image.id, client=client, body=File(payload=io.BytesIO(image.layer_bytes))
            )
            require_ok(f"PUT layer {image.id}", answer.status_code, answer.content)
            stored = sent_json[f"/v1/images/{image.id}/json"] + b"\n" + image.layer_bytes
            answer = put_image_checksum.sync_detailed(
                image.id,
                client=client,
                x_docker_checksum_payload="sha256:" + hashlib.sha256(stored).hexdigest(),
            )
            require_ok(f"PUT checksum {image.id}", answer.status_code, answer.content)
        tip = images[-1].id
        answer = set_tag.sync_detailed(NAMESPACE, REPOSITORY, TAG, client=client, body=tip)
        require_ok(f"PUT tag {TAG}", answer.status_code, answer.content)
    return Expected(
        url=base_url,
        namespace=NAMESPACE,
        repository=REPOSITORY,
        tag=TAG,
        image_id=tip,
        ancestry=tuple(image.id for image in reversed(images)),
    )


@contextmanager
def seeded_registry() -> Iterator[Expected]:
    """A standalone emulator in this process, holding one pushed 3-image repository."""
    with run_standalone() as registry:
        yield push_chain(registry.url, build_image_chain(CHAIN_LENGTH))


# --- driver ------------------------------------------------------------------------------


@attrs.define
class Outcome:
    language: str
    timings: dict[str, float] = attrs.field(factory=dict)
    failure: str | None = None

    def describe(self) -> str:
        steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in self.timings.items())
        verdict = "FAILED" if self.failure else "ok"
        return f"{self.language} {verdict} ({steps})"


def step(outcome: Outcome, name: str, action: Callable[[], str | None]) -> None:
    started = time.perf_counter()
    try:
        output = action()
    finally:
        outcome.timings[name] = time.perf_counter() - started
    print(f"[{outcome.language}] {name:<8} {outcome.timings[name]:6.2f} s  ok", flush=True)
    if output:
        for line in output.rstrip().splitlines():
            print(f"[{outcome.language}]   | {line}", flush=True)


def fingerprint(language: str) -> str:
    """What a built client was made from: both specs, this script and the language's own
    committed files. A build records it, so ``--if-changed`` (``make test``) and the
    tests rebuild only when one of them changed."""
    digest = hashlib.sha256()
    sources = [SPEC, OCI_SPEC, Path(__file__).resolve()]
    sources += sorted(path for path in (CLIENTS / language).rglob("*") if path.is_file())
    for path in sources:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _stamp(language: str) -> Path:
    return BUILD / language / ".fingerprint"


def is_built(language: str) -> bool:
    """The language's client was built, completely, from the files as they are now."""
    stamp = _stamp(language)
    return stamp.is_file() and stamp.read_text(encoding="ascii") == fingerprint(language)


def build_language(
    language: Language, expected: Expected | None, *, if_changed: bool = False
) -> Outcome:
    outcome = Outcome(language.name)
    out = BUILD / language.name
    smoke = language.smoke
    try:
        if if_changed and is_built(language.name):
            print(f"[{language.name}] up to date (same specs and sources)", flush=True)
        else:
            step(outcome, "generate", lambda: language.generate(fresh(out)))
            step(outcome, "build", lambda: language.build(out))
            _stamp(language.name).write_text(fingerprint(language.name), encoding="ascii")
        if smoke is not None and expected is not None:
            step(outcome, "smoke", lambda: run(smoke(out), cwd=out, env=expected.env()))
    except StepError as exc:
        outcome.failure = str(exc)
        print(f"[{language.name}] FAILED: {exc}", flush=True)
        for line in exc.output.rstrip().splitlines():
            print(f"[{language.name}]   | {line}", flush=True)
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("languages", nargs="+", choices=sorted(LANGUAGES), metavar="LANGUAGE")
    parser.add_argument(
        "--if-changed",
        action="store_true",
        help="skip generating and compiling a client built from the same files (still smoke it)",
    )
    args = parser.parse_args(argv)
    languages = [LANGUAGES[name] for name in dict.fromkeys(args.languages)]

    started = time.perf_counter()
    outcomes: list[Outcome] = []
    try:
        with seeded_registry() as expected:
            print(
                f"registry {expected.url}: {expected.namespace}/{expected.repository}:"
                f"{expected.tag} -> {expected.image_id} ({len(expected.ancestry)} images)",
                flush=True,
            )
            outcomes = [
                build_language(language, expected, if_changed=args.if_changed)
                for language in languages
            ]
    except StepError as exc:
        print(f"FAILED before any client was built: {exc}\n{exc.output}", flush=True)
        return 1
    total = time.perf_counter() - started
    failed = [outcome for outcome in outcomes if outcome.failure]
    print(f"summary: {'; '.join(o.describe() for o in outcomes)}; total {total:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
