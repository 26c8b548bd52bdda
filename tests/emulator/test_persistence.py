"""Directory storage: everything survives a restart; files are written atomically."""

from __future__ import annotations

from pathlib import Path

import httpx
from docker_registry_v1.emulator import run_standalone
from docker_registry_v1.emulator.seed import build_image_chain
from emulator_wire import push_image


def test_restart_keeps_everything(tmp_path: Path) -> None:
    chain = build_image_chain(2)
    half = build_image_chain(1, seed=5)[0]
    with run_standalone(data_dir=tmp_path) as reg, httpx.Client(base_url=reg.url) as c:
        c.put("/v1/repositories/ns/r/", json=[{"id": chain[0].id}])
        for image in chain:
            push_image(c, image)
        c.put("/v1/repositories/ns/r/tags/latest", json=chain[-1].id)
        c.put("/v1/repositories/ns/r/properties", json={"access": "private"})
        c.post("/v1/users/", json={"username": "bob", "password": "pw", "email": ""})
        c.put(f"/v1/images/{half.id}/json", content=half.json_bytes)
    assert not list(tmp_path.rglob(".tmp-*"))
    assert "pw" not in (tmp_path / "state.json").read_text()
    with run_standalone(data_dir=tmp_path) as reg, httpx.Client(base_url=reg.url) as c:
        assert c.get("/v1/repositories/ns/r/tags").json() == {"latest": chain[-1].id}
        assert c.get(f"/v1/images/{chain[-1].id}/layer").content == chain[-1].layer_bytes
        got = c.get(f"/v1/images/{chain[-1].id}/json")
        assert got.content == chain[-1].json_bytes
        assert got.headers["x-docker-checksum-payload"] == chain[-1].checksum
        assert c.get(f"/v1/images/{chain[-1].id}/ancestry").json() == [chain[1].id, chain[0].id]
        assert c.get("/v1/repositories/ns/r/images").json() == [{"id": chain[0].id}]
        assert c.get("/v1/search", params={"q": "ns/r"}).json()["num_results"] == 1
        assert c.get("/v1/repositories/ns/r/properties").json() == {"access": "private"}
        assert c.get("/v1/users/", auth=("bob", "pw")).status_code == 200
        assert c.get(f"/v1/images/{half.id}/json").status_code == 400
        push_image(c, half)
