"""skillkit.sweeps: cached grid points, atomic writes, resume after an interrupted sweep, run settings kept
out of the cache key, results found from the checkout, corrupt caches refused, and a Dask cluster."""
import concurrent.futures as cf
import json
import os

import numpy as np
import pytest

from skillkit import sweeps
from skillkit.experiments import mlp_point


def _square(cfg, *, device="cpu", progress=True):
    return {"y": np.float64(cfg["x"]) ** 2, "arr": np.arange(cfg["x"]), "device": device}


def test_grid_and_hash_are_stable_and_order_independent():
    g = sweeps.grid(width=[1, 2], seed=[0, 1, 2])
    assert len(g) == 6 and g[0] == {"width": 1, "seed": 0} and g[-1] == {"width": 2, "seed": 2}
    assert sweeps.config_hash({"a": 1, "b": 2.5}) == sweeps.config_hash({"b": 2.5, "a": 1})
    assert sweeps.config_hash({"a": 1}) != sweeps.config_hash({"a": 2})
    assert sweeps.config_hash({"a": np.int64(3)}) == sweeps.config_hash({"a": 3})
    # a hash committed with results/ (chapter 5's n_s = 1 time calibration) stays what it was
    assert sweeps.config_hash({"batch": 1000, "init_std": 0.01, "log_every": 50, "lr": 0.02, "n_models": 8,
                               "n_skills": 1, "probe_n": 4000, "steps": 4000, "widths": 128}) == "85583fad3db03bb4"
    with pytest.raises(ValueError, match=r"^grid axis 'width' must have at least one value"):
        sweeps.grid(width=[])
    with pytest.raises(ValueError, match=r"^experiment must be a plain directory name"):
        sweeps.result_path("../x", {"a": 1})


def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    configs = sweeps.grid(x=[1, 2, 3, 4, 5])
    calls = []

    def flaky(cfg, **run):
        calls.append(cfg["x"])
        if cfg["x"] == 3:
            raise RuntimeError("killed at the third point")
        return _square(cfg, **run)

    with pytest.raises(RuntimeError, match=r"^killed at the third point$"):
        sweeps.run(flaky, configs, "toy", device="cpu", results_dir=tmp_path, progress=False)
    assert calls == [1, 2, 3]
    files = sorted(p.name for p in (tmp_path / "toy").iterdir())
    assert len(files) == 2 and all(f.endswith(".json") for f in files)   # no temporary files left

    calls.clear()
    out = sweeps.run(lambda c, **run: (calls.append(c["x"]), _square(c, **run))[1], configs, "toy",
                     device="cpu", results_dir=tmp_path, progress=False)
    assert calls == [3, 4, 5]                                           # 1 and 2 come from the cache
    assert [r["y"] for r in out] == [1.0, 4.0, 9.0, 16.0, 25.0]
    assert out[3]["arr"] == [0, 1, 2, 3]
    stored = json.loads(sweeps.result_path("toy", configs[0], tmp_path).read_text())
    assert stored["config"] == {"x": 1} and stored["result"]["y"] == 1.0
    assert sweeps.load("toy", {"x": 4}, tmp_path)["y"] == 16.0
    assert sweeps.load("toy", {"x": 99}, tmp_path) is None
    calls.clear()
    sweeps.run(lambda c, **run: calls.append(c) or {}, configs, "toy", device="cpu", results_dir=tmp_path,
               progress=False)
    assert calls == []


def test_device_is_passed_to_the_point_and_never_hashed(tmp_path):
    seen = []

    def point(cfg, *, device, progress):
        seen.append((device, progress))
        return {"x": cfg["x"]}

    path_before = sweeps.result_path("dev", {"x": 1}, tmp_path)
    sweeps.run(point, [{"x": 1}], "dev", device="meta", results_dir=tmp_path, progress=True)
    assert seen == [("meta", True)]
    assert sweeps.result_path("dev", {"x": 1}, tmp_path) == path_before
    assert json.loads(path_before.read_text())["config"] == {"x": 1}    # the device is not stored either
    # a result computed on one device is found when the sweep asks for another
    seen.clear()
    assert sweeps.run(point, [{"x": 1}], "dev", device="cuda", results_dir=tmp_path) == [{"x": 1}]
    assert seen == []
    with pytest.raises(TypeError, match=r"required keyword-only argument: 'device'$"):
        sweeps.run(point, [{"x": 1}], "dev", results_dir=tmp_path)       # the device is required


def test_mlp_point_receives_the_device_and_its_key_is_device_free(tmp_path, monkeypatch):
    """The chapter-5 point trains where it is told: here its net and task are built on the device given."""
    from skillkit.experiments import emergence
    seen = {}
    real = emergence.MLPEnsemble

    def spy(*args, device="cpu", **kwargs):
        seen["device"] = str(device)
        return real(*args, device=device, **kwargs)

    monkeypatch.setattr(emergence, "MLPEnsemble", spy)
    cfg = dict(n_skills=2, widths=3, steps=2, batch=8, log_every=1, probe_n=8)
    sweeps.run(emergence.mlp_point, [cfg], "dev", device="cpu", results_dir=tmp_path, progress=False)
    assert seen["device"] == "cpu"
    assert sweeps.config_hash(cfg) == sweeps.result_path("dev", cfg, tmp_path).stem


def test_thread_pool_executor_keeps_finished_points_when_one_fails(tmp_path):
    configs = sweeps.grid(x=[1, 2, 3, 4])

    def fn(cfg, **run):
        if cfg["x"] == 2:
            raise ValueError("bad point")
        return _square(cfg, **run)

    with cf.ThreadPoolExecutor(2) as ex, pytest.raises(ValueError, match=r"^bad point$"):
        sweeps.run(fn, configs, "pool", device="cpu", results_dir=tmp_path, executor=ex, progress=False)
    assert len(list((tmp_path / "pool").glob("*.json"))) == 3
    with cf.ThreadPoolExecutor(2) as ex:
        out = sweeps.run(_square, configs, "pool", device="cpu", results_dir=tmp_path, executor=ex, progress=False)
    assert [r["y"] for r in out] == [1.0, 4.0, 9.0, 16.0]


def test_unserialisable_result_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"^value of type object cannot be stored as JSON"):
        sweeps.run(lambda c, **run: {"f": object()}, [{"x": 1}], "bad", device="cpu", results_dir=tmp_path,
                   progress=False)
    assert not list((tmp_path / "bad").glob("*.json"))


@pytest.mark.parametrize("content,why", [('{"config": {"x": 1}, "result": {"y"', "is not valid JSON"),
                                         ('[1, 2]', "does not hold a"),
                                         ('{"config": {"x": 2}, "result": {"y": 4}}', "was written for another config")])
def test_a_corrupt_cached_result_is_a_clear_error(tmp_path, content, why):
    path = sweeps.result_path("c", {"x": 1}, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    pattern = rf"^cached result .*{path.name} {why}.*delete the file and run the sweep again"
    with pytest.raises(ValueError, match=pattern):
        sweeps.run(_square, [{"x": 1}], "c", device="cpu", results_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match=pattern):
        sweeps.load("c", {"x": 1}, tmp_path)


def test_results_dir_is_found_from_the_checkout_never_the_package(tmp_path, monkeypatch):
    monkeypatch.delenv("SKILLKIT_RESULTS", raising=False)
    book = tmp_path / "book"
    (book / "notebooks" / "deep").mkdir(parents=True)
    (book / "_config.yml").write_text("title: x\n")
    assert sweeps.default_results_dir(book / "notebooks" / "deep") == book / "results"
    monkeypatch.chdir(book / "notebooks")
    assert sweeps.default_results_dir() == book / "results"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"^no results folder: .* Set SKILLKIT_RESULTS .* clone of the book"):
        sweeps.default_results_dir()
    monkeypatch.setenv("SKILLKIT_RESULTS", str(tmp_path / "elsewhere"))
    assert sweeps.default_results_dir() == tmp_path / "elsewhere"


def test_jsonable_strict_writes_null_for_nan_and_keeps_numbers():
    obj = {"a": np.array([1.0, np.nan, np.inf]), "b": np.float64(2.5), "c": [np.int64(3), None, "x", True],
           "d": (float("nan"),)}
    out = sweeps.jsonable(obj, nonfinite=lambda v: None)
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == {"a": [1.0, None, None], "b": 2.5, "c": [3, None, "x", True], "d": [None]}
    assert sweeps.jsonable({"a": float("inf")}) == {"a": "inf"}
    with pytest.raises(ValueError, match=r"^value of type object cannot be stored as JSON"):
        sweeps.jsonable({"f": object()})


class _Counting(cf.Executor):
    """Delegates to another executor and records which configs were submitted."""

    def __init__(self, inner):
        self.inner, self.submitted = inner, []

    def submit(self, fn, /, *args, **kwargs):
        self.submitted.append(args[0])
        return self.inner.submit(fn, *args, **kwargs)


def test_sweep_on_a_local_dask_cluster_equals_in_process_and_resumes(tmp_path):
    """A real point function (the chapter-5 MLP point, tiny) on two Dask worker processes."""
    distributed = pytest.importorskip("distributed")
    base = dict(n_skills=2, n_bits=12, k=2, steps=6, batch=32, log_every=3, probe_n=32, widths=4)
    good = [dict(base, seed=s) for s in range(4)]
    broken = dict(base, seed=9, widths=0)                   # MLPEnsemble refuses width 0: the point raises
    inline = sweeps.run(mlp_point, good, "mlp", device="cpu", results_dir=tmp_path / "inline", progress=False)
    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"),
                                                                               os.getcwd()]))}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env=env) as cluster, distributed.Client(cluster) as client:
        ex = _Counting(client.get_executor())
        with pytest.raises(ValueError, match=r"^widths must be an integer"):
            sweeps.run(mlp_point, good[:2] + [broken], "mlp", device="cpu", results_dir=tmp_path / "dask",
                       executor=ex, progress=False)
        assert len(list((tmp_path / "dask" / "mlp").glob("*.json"))) == 2       # the finished points are kept
        ex.submitted.clear()
        out = sweeps.run(mlp_point, good, "mlp", device="cpu", results_dir=tmp_path / "dask", executor=ex,
                         progress=False)
        assert ex.submitted == good[2:]                    # only the missing points were computed
    for a, b in zip(out, inline):
        assert a["steps"] == b["steps"] and a["widths"] == b["widths"]
        np.testing.assert_allclose(a["R_over_S"], b["R_over_S"], rtol=0, atol=2e-5)
