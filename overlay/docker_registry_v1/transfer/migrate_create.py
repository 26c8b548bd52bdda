"""Destination repositories that must exist before a push (ECR, Harbor projects, GitLab).

Such registries answer the first blob upload into an unknown repository with an error,
so `migrate` can be given a ``create_repository`` hook, called once per new destination
repository (one the plan found with no tags, see `MigrationPlan.new_repositories`)
before the first blob of its first tag is sent. `RepositoryCreation` makes the calls
once per run however many tags of a repository run at once, and records each success in
the journal so a rerun does not create the repository again; a failure fails that
repository's tags with its message, never the run. `repository_command` turns the CLI's
``--create-repo-cmd`` into such a hook.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable

import attrs

from ..core.errors import DockerRegistryError
from ..engine.journal import Journal

__all__ = ["CreateRepository", "CreateRepositoryError", "RepositoryCreation", "repository_command"]

CreateRepository = Callable[[str], None]
"""Make the destination repository it is given; raise to say it could not."""

#: The lines of the command's stderr a failure reports (the end says why, usually).
_STDERR_LINES = 3
_STDERR_CHARS = 400


class CreateRepositoryError(DockerRegistryError):
    """The hook that makes a destination repository failed: its tags fail with this."""

    def __init__(self, repository: str, reason: str) -> None:
        super().__init__(f"creating repository {repository} failed: {reason}")
        self.repository = repository
        self.reason = reason


@attrs.define
class RepositoryCreation:
    """Calls ``create`` at most once per repository of ``registry`` in a run, and never
    for one the journal records as made: tags of a repository running at once wait for
    the one call, and all see its outcome (a failure is not retried in the same run)."""

    create: CreateRepository
    journal: Journal
    registry: str
    new: frozenset[str]
    _done: dict[str, str | None] = attrs.field(factory=dict)
    _locks: dict[str, threading.Lock] = attrs.field(factory=dict)
    _guard: threading.Lock = attrs.field(factory=threading.Lock)

    def ensure(self, repository: str) -> None:
        """Return once ``repository`` exists as far as the hook is concerned; raise
        `CreateRepositoryError` when the hook failed for it."""
        if repository not in self.new:
            return
        with self._guard:
            lock = self._locks.setdefault(repository, threading.Lock())
        with lock:
            if repository not in self._done:
                self._done[repository] = self._call(repository)
            reason = self._done[repository]
        if reason is not None:
            raise CreateRepositoryError(repository, reason)

    def _call(self, repository: str) -> str | None:
        if self.journal.was_created(self.registry, repository):
            return None
        try:
            self.create(repository)
        except CreateRepositoryError as error:
            return error.reason
        except Exception as error:  # the caller's hook: any failure is its repository's
            return " ".join(str(error).split()) or type(error).__name__
        self.journal.repository_created(self.registry, repository)
        return None


def _escaped(text: str) -> str:
    """Printable on one line: control characters (terminal escapes included) shown as
    Python escapes, so a command's output cannot rewrite the user's screen."""
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def _tail(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    text = " | ".join([line for line in lines if line][-_STDERR_LINES:])
    return _escaped(text[-_STDERR_CHARS:])


def _kill_group(pid: int) -> None:
    """End the command and whatever it started (they share its session's group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def repository_command(template: str, registry: str, *, timeout: float = 60.0) -> CreateRepository:
    """A hook running ``template`` through ``/bin/sh -c`` with ``{repo}`` replaced by the
    repository name, shell-quoted, and ``REGV1_REPOSITORY``/``REGV1_REGISTRY`` in its
    environment. A non-zero exit or running longer than ``timeout`` seconds is a
    failure, reported with the last lines of its stderr."""

    def create(repository: str) -> None:
        command = template.replace("{repo}", shlex.quote(repository))
        env = {**os.environ, "REGV1_REPOSITORY": repository, "REGV1_REGISTRY": registry}
        with subprocess.Popen(  # noqa: S603 - the user's own command, as given
            ["/bin/sh", "-c", command],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a timeout ends the command's children too
        ) as process:
            try:
                _, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process.pid)
                _, stderr = process.communicate()
                tail = _tail(stderr or b"")
                raise CreateRepositoryError(
                    repository,
                    f"the command timed out after {timeout:g} s" + (f": {tail}" if tail else ""),
                ) from None
            except BaseException:  # Ctrl-C: its own session does not get the terminal's signal
                _kill_group(process.pid)
                raise
        if process.returncode != 0:
            tail = _tail(stderr)
            raise CreateRepositoryError(
                repository,
                f"the command exited with {process.returncode}" + (f": {tail}" if tail else ""),
            )

    return create
