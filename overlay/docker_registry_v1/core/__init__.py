"""The shared core every other layer builds on: errors, names, the image metadata model,
the one send/retry policy, TLS settings, the library logger and progress events.

Nothing here knows a registry API, a file format or a command; both clients (``v1``,
``oci``), the file formats and the engine import it, never the other way round.
"""
