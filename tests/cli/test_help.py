"""Every command's --help ends with examples; the group's documents credentials and completion."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from regv1_runner import regv1

REGV1 = Path(sys.executable).with_name("regv1")

#: Every command of the group.
OWN_COMMANDS = [
    "ping",
    "tags",
    "image-id",
    "ancestry",
    "metadata",
    "search",
    "tag",
    "untag",
    "delete",
    "login",
    "logout",
    "mirror",
    "copy",
    "inventory",
    "migrate",
    "pull",
    "push",
    "serve",
    "provenance export",
]


@pytest.mark.parametrize("command", OWN_COMMANDS)
def test_help_ends_with_examples(command: str) -> None:
    result = regv1(*command.split(), "--help")
    assert result.exit_code == 0
    lines = result.stdout.rstrip("\n").splitlines()
    start = lines.index("  Examples:")
    examples = [line.strip() for line in lines[start + 1 :]]
    commands = [line for line in examples if line.startswith("regv1 ")]
    assert 2 <= len(commands) <= 3, examples
    assert all(line.startswith(f"regv1 {command} ") for line in commands)


def test_group_help_documents_credentials_and_completion() -> None:
    text = regv1("--help").stdout
    flat = " ".join(text.split())
    assert "REGV1_USERNAME/REGV1_PASSWORD; $REGISTRY_AUTH_FILE" in flat
    assert "docker-credential-NAME" in flat
    assert "_REGV1_COMPLETE=bash_source regv1" in text


def test_completion_as_documented() -> None:
    """The documented bash line yields a completion script, and it completes commands."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("_REGV1")}
    script = subprocess.run(
        [str(REGV1)],
        env=env | {"_REGV1_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "complete -o nosort -F _regv1_completion regv1" in script.stdout
    words = subprocess.run(
        [str(REGV1)],
        env=env | {"_REGV1_COMPLETE": "bash_complete", "COMP_WORDS": "regv1 ta", "COMP_CWORD": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert words.stdout.split() == ["plain,tag", "plain,tags"]


SIDE_OPTIONS = [
    f"--{side}-{name}"
    for side in ("src", "dest")
    for name in ("creds", "password-stdin", "no-creds", "authfile", "tls-verify", "cert-dir")
]


def listed_options(command: str) -> set[str]:
    """The long option names ``regv1 COMMAND --help`` lists."""
    text = regv1(command, "--help").stdout
    found = re.findall(r"^  (?:-\w, )?(--[a-z][\w-]*)", text, flags=re.MULTILINE)
    return set(found)


#: The one-registry spellings two-sided commands still accept, hidden.
HIDDEN_ON_TWO_SIDED = {
    "--plain-http",
    "--insecure",
    "--ca-cert",
    "--username",
    "--password-stdin",
    "--creds",
    "--concurrency",
}


@pytest.mark.parametrize("command", ["copy", "mirror", "migrate"])
def test_two_sided_commands_show_each_sides_options(command: str) -> None:
    listed = listed_options(command)
    assert {*SIDE_OPTIONS, "--authfile"} <= listed
    assert not listed & HIDDEN_ON_TWO_SIDED


@pytest.mark.parametrize("command", ["pull", "push", "tags", "inventory"])
def test_one_sided_commands_keep_their_options(command: str) -> None:
    listed = listed_options(command)
    assert {"--plain-http", "--insecure", "--ca-cert", "--username", "--password-stdin"} <= listed
    assert not listed & set(SIDE_OPTIONS)
