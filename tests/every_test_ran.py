"""A pytest plugin that fails the run when a collected test was never reported.

The suite runs on pytest-xdist workers: the workers collect, the controller hands
out items and only sees the reports that come back. A test that is collected but
never reported (an item lost between processes, two items sharing one node id so
that one report stands for both, a hook that swallows an item) would otherwise pass
unnoticed: pytest counts what was reported, not what was collected. So the process
that prints the verdict (the controller, or the only process without xdist) compares
the node ids collected with the node ids that got an outcome, and fails the session
when an id is missing or was collected twice.

An item has an outcome when its teardown was reported and either its call was (passed,
failed, xfailed, xpassed) or its setup did not pass (skipped, errored). A run stopped
early (``-x``, ``--maxfail``, Ctrl-C) or that only collects is not checked: not
running everything is what was asked for.
"""

from __future__ import annotations

from collections import Counter

import pytest


class EveryTestRan:
    """The controller's ledger: node ids collected and reported phases per node id."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.collected: list[str] | None = None
        self.phases: dict[str, dict[str, str]] = {}
        self.problems: list[str] = []
        self.checked = 0

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self._distributed():
            self.collected = [item.nodeid for item in session.items]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        # Every worker collects the same list (pytest-xdist refuses to run otherwise).
        if self.collected is None:
            self.collected = list(ids)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.phases.setdefault(report.nodeid, {})[report.when or "?"] = report.outcome

    def _distributed(self) -> bool:
        return self.config.pluginmanager.has_plugin("dsession")

    def _has_outcome(self, nodeid: str) -> bool:
        phases = self.phases.get(nodeid, {})
        return "teardown" in phases and ("call" in phases or phases.get("setup") != "passed")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        stopped = session.shouldstop or session.shouldfail
        if (
            self.collected is None
            or self.config.option.collectonly
            or stopped
            or exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.USAGE_ERROR)
        ):
            return
        duplicates = sorted(n for n, count in Counter(self.collected).items() if count > 1)
        missing = [n for n in dict.fromkeys(self.collected) if not self._has_outcome(n)]
        self.problems = [f"collected more than once: {n}" for n in duplicates] + [
            f"collected, never reported: {n}" for n in missing
        ]
        self.checked = len(self.collected)
        if self.problems and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.problems:
            terminalreporter.write_sep("=", "every test ran: NO", red=True, bold=True)
            for line in self.problems[:50]:
                terminalreporter.write_line(line)
            if len(self.problems) > 50:
                terminalreporter.write_line(f"... and {len(self.problems) - 50} more")
        elif self.checked:
            terminalreporter.write_line(
                f"every test ran: {self.checked} collected, {self.checked} reported"
            )


def pytest_configure(config: pytest.Config) -> None:
    # A worker runs only its share; the controller (or a run without xdist) checks.
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(EveryTestRan(config), "every-test-ran")
