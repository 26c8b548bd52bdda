"""The threshold tests lower `core.http.DIRECT_BODY` to (fixture ``small_direct_body``
in tests/conftest.py): layers of a few MiB then take the direct body path as 32 MiB ones
do in use — the same code, only the threshold lowered, so the tests stay small."""

SMALL_DIRECT_BODY = 1 << 20
