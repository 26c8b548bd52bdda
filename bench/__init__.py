"""Benchmarks of the facade against curl and raw httpx (``make bench``, ``python -m bench``).

The server under the throughput cases is a private nginx on loopback (so the
client is the bottleneck), the flows run against the emulator; every client
measurement runs in a fresh subprocess so its peak RSS is its own.
"""
