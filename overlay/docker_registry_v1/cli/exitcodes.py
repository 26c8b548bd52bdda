"""The exit statuses of every ``regv1`` command, and the help text that documents them.

One convention, so that a script or a CI job can tell "nothing happened" from "part of
it happened" without reading the output: 0 all done; 1 nothing could start (bad input,
a usage error, an unreachable registry, a refused login); 2 the command finished but
some items failed (the report lists them); 130 interrupted (Ctrl-C, as a shell reports
SIGINT); 141 stdout's reader went away (as a shell reports SIGPIPE). Usage errors are
bad input too, so they exit 1 rather than click's default 2, which means a partial
failure here.
"""

from __future__ import annotations

__all__ = [
    "EXIT_CLOSED_PIPE",
    "EXIT_CODES_HELP",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PARTIAL",
]

#: Everything asked for was done.
EXIT_OK = 0
#: Nothing could start: bad input or usage, an unreachable registry, a refused login.
EXIT_FAILED = 1
#: The command finished, but some items (tags, images) failed; the report lists them.
EXIT_PARTIAL = 2
#: Interrupted by Ctrl-C: 128 + SIGINT, as a shell reports it.
EXIT_INTERRUPTED = 128 + 2
#: Stdout's reader went away (``regv1 tags REF | head -1``): 128 + SIGPIPE, as a shell
#: reports a process the signal killed (``yes | head -1``).
EXIT_CLOSED_PIPE = 128 + 13

#: The table of exit statuses, for help epilogs (click prints ``\b`` blocks verbatim).
EXIT_CODES_HELP = (
    "\b\n"
    "Exit status:\n"
    f"  {EXIT_OK:<4}all done\n"
    f"  {EXIT_FAILED:<4}nothing could start: bad input or usage, unreachable registry, "
    "refused login\n"
    f"  {EXIT_PARTIAL:<4}finished, but some items failed (the report lists them)\n"
    f"  {EXIT_INTERRUPTED:<4}interrupted (Ctrl-C)\n"
    f"  {EXIT_CLOSED_PIPE:<4}stdout's reader went away (| head)"
)
