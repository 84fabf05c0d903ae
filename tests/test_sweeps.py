"""skillkit.sweeps: cached grid points, atomic writes, resume after an interrupted sweep."""
import concurrent.futures as cf
import json

import numpy as np
import pytest

from skillkit import sweeps


def _square(cfg):
    return {"y": np.float64(cfg["x"]) ** 2, "arr": np.arange(cfg["x"])}


def test_grid_and_hash_are_stable_and_order_independent():
    g = sweeps.grid(width=[1, 2], seed=[0, 1, 2])
    assert len(g) == 6 and g[0] == {"width": 1, "seed": 0} and g[-1] == {"width": 2, "seed": 2}
    assert sweeps.config_hash({"a": 1, "b": 2.5}) == sweeps.config_hash({"b": 2.5, "a": 1})
    assert sweeps.config_hash({"a": 1}) != sweeps.config_hash({"a": 2})
    assert sweeps.config_hash({"a": np.int64(3)}) == sweeps.config_hash({"a": 3})
    with pytest.raises(ValueError, match="grid axis"):
        sweeps.grid(width=[])
    with pytest.raises(ValueError, match="experiment"):
        sweeps.result_path("../x", {"a": 1})


def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    configs = sweeps.grid(x=[1, 2, 3, 4, 5])
    calls = []

    def flaky(cfg):
        calls.append(cfg["x"])
        if cfg["x"] == 3:
            raise RuntimeError("killed at the third point")
        return _square(cfg)

    with pytest.raises(RuntimeError, match="third point"):
        sweeps.run(flaky, configs, "toy", results_dir=tmp_path, progress=False)
    assert calls == [1, 2, 3]
    files = sorted(p.name for p in (tmp_path / "toy").iterdir())
    assert len(files) == 2 and all(f.endswith(".json") for f in files)   # no temporary files left

    calls.clear()
    out = sweeps.run(lambda c: (calls.append(c["x"]), _square(c))[1], configs, "toy",
                     results_dir=tmp_path, progress=False)
    assert calls == [3, 4, 5]                                           # 1 and 2 come from the cache
    assert [r["y"] for r in out] == [1.0, 4.0, 9.0, 16.0, 25.0]
    assert out[3]["arr"] == [0, 1, 2, 3]
    stored = json.loads(sweeps.result_path("toy", configs[0], tmp_path).read_text())
    assert stored["config"] == {"x": 1} and stored["result"]["y"] == 1.0
    assert sweeps.load("toy", {"x": 4}, tmp_path)["y"] == 16.0
    assert sweeps.load("toy", {"x": 99}, tmp_path) is None
    calls.clear()
    sweeps.run(lambda c: calls.append(c) or {}, configs, "toy", results_dir=tmp_path, progress=False)
    assert calls == []


def test_thread_pool_executor_keeps_finished_points_when_one_fails(tmp_path):
    configs = sweeps.grid(x=[1, 2, 3, 4])

    def fn(cfg):
        if cfg["x"] == 2:
            raise ValueError("bad point")
        return _square(cfg)

    with cf.ThreadPoolExecutor(2) as ex, pytest.raises(ValueError, match="bad point"):
        sweeps.run(fn, configs, "pool", results_dir=tmp_path, executor=ex, progress=False)
    assert len(list((tmp_path / "pool").glob("*.json"))) == 3
    with cf.ThreadPoolExecutor(2) as ex:
        out = sweeps.run(_square, configs, "pool", results_dir=tmp_path, executor=ex, progress=False)
    assert [r["y"] for r in out] == [1.0, 4.0, 9.0, 16.0]


def test_unserialisable_result_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="JSON"):
        sweeps.run(lambda c: {"f": object()}, [{"x": 1}], "bad", results_dir=tmp_path, progress=False)
    assert not list((tmp_path / "bad").glob("*.json"))
