"""The rich progress listener: bars on a terminal, silence otherwise, safe across threads."""

from __future__ import annotations

import io
import threading

import attrs
from docker_registry_v1.cli.options import NO_OPTIONS, Settings
from docker_registry_v1.cli.progress import RichProgress, progress_for
from docker_registry_v1.core.progress import (
    AssemblyListener,
    PlannedLayer,
    ProgressListener,
    SilentProgress,
)
from rich.console import Console


def _settings(*, json: bool = False) -> Settings:
    return attrs.evolve(NO_OPTIONS, json=json)


def _terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=120), buffer


def test_bars_on_a_terminal() -> None:
    console, buffer = _terminal()
    ids = [f"{i:x}" * 64 for i in range(1, 4)]
    with progress_for(_settings(), console) as listener:
        assert isinstance(listener, RichProgress)
        assert isinstance(listener, ProgressListener)
        listener.planned(
            [PlannedLayer(ids[0], 3000), PlannedLayer(ids[1], 5000), PlannedLayer(ids[2], 7000)]
        )

        def move(image_id: str, size: int) -> None:
            for _ in range(size // 1000):
                listener.advanced(image_id, 1000)
            listener.finished(image_id)

        threads = [
            threading.Thread(target=move, args=(ids[0], 3000)),
            threading.Thread(target=move, args=(ids[1], 5000)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        listener.advanced(ids[2], 500)
        listener.advanced(ids[2], -500)  # a restarted layer
        listener.finished(ids[2], skipped=True)
    text = buffer.getvalue()
    assert "total (3 layers)" in text
    assert "8.0/8.0 kB" in text  # the skipped layer left the total
    assert ids[2][:12] in text


def test_unknown_sizes() -> None:
    console, buffer = _terminal()
    with progress_for(_settings(), console) as listener:
        listener.planned([PlannedLayer("a" * 64, None)])
        listener.advanced("a" * 64, 1234)
        listener.finished("a" * 64)
    assert "total (1 layers)" in buffer.getvalue()


def test_silent_when_not_a_terminal_or_json() -> None:
    plain = Console(file=io.StringIO(), force_terminal=False)
    with progress_for(_settings(), plain) as listener:
        assert isinstance(listener, SilentProgress)
    console, buffer = _terminal()
    with progress_for(_settings(json=True), console) as listener:
        assert isinstance(listener, SilentProgress)
        listener.planned([PlannedLayer("a" * 64, 1)])
    assert buffer.getvalue() == ""


def test_assembly_bar_after_the_last_layer() -> None:
    console, buffer = _terminal()
    with progress_for(_settings(), console) as listener:
        assert isinstance(listener, AssemblyListener)
        listener.planned([PlannedLayer("a" * 64, 4000)])
        listener.advanced("a" * 64, 4000)
        listener.finished("a" * 64)
        listener.assembling(4000)
        for _ in range(4):
            listener.assembled(1000)
    text = buffer.getvalue()
    assert "assembling archive" in text
    assert "4.0/4.0 kB" in text
