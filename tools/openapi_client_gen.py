"""Run openapi-python-client with the spec's `x-` extensions visible to the templates.

The generator parses vendor extensions and then drops them, but some of them decide
what a request looks like (a path parameter whose slashes are separators, an operation
whose URL is the previous answer's `Location`). This wrapper gives the templates a
`vendor` global built from the raw document:

    vendor.operations[operationId]         -> {"x-…": value, …}
    vendor.parameters[operationId][name]   -> {"x-…": value, …}   ($refs resolved)

and otherwise runs the generator's own command line unchanged (same arguments).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from openapi_python_client import Project
from openapi_python_client.cli import app

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _extensions(node: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in node.items() if key.startswith("x-")}


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def vendor_extensions(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    operations: dict[str, dict[str, Any]] = {}
    parameters: dict[str, dict[str, dict[str, Any]]] = {}
    for item in document.get("paths", {}).values():
        shared = [_resolve(document, p) for p in item.get("parameters", [])]
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            op_id = operation["operationId"]
            operations[op_id] = _extensions(operation)
            own = [_resolve(document, p) for p in operation.get("parameters", [])]
            parameters[op_id] = {p["name"]: _extensions(p) for p in shared + own}
    return {"operations": operations, "parameters": parameters}


def main() -> None:
    spec = Path(sys.argv[sys.argv.index("--path") + 1])
    vendor = vendor_extensions(yaml.safe_load(spec.read_text(encoding="utf-8")))
    original_init = Project.__init__

    def init(self: Project, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.env.globals["vendor"] = vendor

    Project.__init__ = init  # type: ignore[method-assign]
    app(sys.argv[1:])


if __name__ == "__main__":
    main()
