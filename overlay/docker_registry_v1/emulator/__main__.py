"""``python -m docker_registry_v1.emulator``: the same as ``regv1 serve``."""

from docker_registry_v1.cli.serve import serve

if __name__ == "__main__":
    serve(prog_name="python -m docker_registry_v1.emulator")
