"""The Docker Registry v1 API client: ``Client``/``AsyncClient`` (the facade), the
services of the Go package it mirrors (Hub, Image, Repository, Search), the auth
strategies (NilAuth, BasicAuth, TokenAuth) and the index's endpoint rules.

Built on the generated ``docker_registry_v1_api`` package and the shared core; it
knows nothing of the OCI side, file formats or the engine.
"""
