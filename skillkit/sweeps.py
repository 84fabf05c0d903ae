"""Run a grid of configurations and cache each point's result as a small JSON file under ``results/``.

``run(point, configs, experiment, device=...)`` calls ``point(config, device=device, progress=...)``
for every ``config`` (a dict of JSON-serialisable values: what is computed) and stores what it returns
(a JSON-serialisable dict; numpy arrays and scalars are converted) as
``results/<experiment>/<confighash>.json``, written atomically (temporary file, then ``os.replace``).
The hash is of ``config`` alone: the device and the progress bar are how a point runs, not what it
computes, so a result is found whatever device computed it. Points already cached are loaded, not
recomputed, so an interrupted sweep is resumed by running it again. Points run on any
``concurrent.futures.Executor``: in-process, one after the other, by default; a
``ProcessPoolExecutor``, a Dask ``distributed.Client.get_executor()`` or a ``submitit`` executor for
larger sweeps (``point`` must then be picklable: a module-level function).

Where results live (:func:`default_results_dir`): ``$SKILLKIT_RESULTS`` if set, else the ``results/``
of the book checkout that holds the working directory (found by walking up to its ``_config.yml``),
never inside an installed package. This module imports no other skillkit module.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import itertools
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from tqdm import tqdm

__all__ = ["grid", "config_hash", "result_path", "read_result", "load", "run", "InlineExecutor", "default_results_dir",
           "jsonable"]


BOOK_MARKER = "_config.yml"


def default_results_dir(start: str | os.PathLike | None = None) -> Path:
    """``$SKILLKIT_RESULTS`` if set, else ``results/`` of the book checkout above ``start`` (default: the
    working directory), found by walking up to the first folder that holds ``_config.yml``.

    Outside a checkout, with the variable unset, this is a ``ValueError`` that names both ways out.
    """
    env = os.environ.get("SKILLKIT_RESULTS")
    if env:
        return Path(env)
    here = Path(start if start is not None else os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / BOOK_MARKER).is_file():
            return folder / "results"
    raise ValueError(f"no results folder: {here} is not inside a checkout of the book (no {BOOK_MARKER} above it). "
                     "Set SKILLKIT_RESULTS to a folder for the cached results, or run from inside a clone of the "
                     "book (git clone --depth 1 <repository>; cd into it)")


def jsonable(obj, nonfinite: Callable[[float], Any] = str):
    """``obj`` with mappings, sequences, numpy arrays and scalars turned into plain JSON values.

    JSON has no literal for an infinite or NaN float; ``nonfinite`` maps one to what is stored instead:
    by default its string (``"inf"``, ``"nan"``), as in config hashes and cached sweep results, or
    ``lambda v: None`` for strict JSON with null. Anything else that JSON cannot hold is a ValueError.
    """
    def walk(o):
        if isinstance(o, Mapping):
            return {str(k): walk(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [walk(v) for v in o]
        if isinstance(o, np.ndarray):
            return walk(o.tolist())
        if isinstance(o, np.generic):
            return walk(o.item())
        if hasattr(o, "to_dict"):
            return walk(o.to_dict())
        if isinstance(o, float) and not np.isfinite(o):
            return nonfinite(o)
        if o is None or isinstance(o, (bool, int, float, str)):
            return o
        raise ValueError(f"value of type {type(o).__name__} cannot be stored as JSON: {o!r}")
    return walk(obj)


def grid(**axes: Iterable) -> list[dict]:
    """The cartesian product of the axes as a list of dicts: ``grid(width=[1, 2], seed=[0, 1])``."""
    names = list(axes)
    values = [list(v) for v in axes.values()]
    for n, v in zip(names, values):
        if not v:
            raise ValueError(f"grid axis {n!r} must have at least one value")
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def config_hash(config: Mapping) -> str:
    """A stable 16-hex-digit hash of a config: SHA-1 of its canonical JSON (sorted keys)."""
    if not isinstance(config, Mapping):
        raise ValueError(f"config must be a dict, got {type(config).__name__}")
    text = json.dumps(jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def result_path(experiment: str, config: Mapping, results_dir: str | os.PathLike | None = None) -> Path:
    """Where the result of ``config`` in ``experiment`` is cached."""
    if not experiment or "/" in experiment or "\\" in experiment or experiment.startswith("."):
        raise ValueError(f"experiment must be a plain directory name, got {experiment!r}")
    base = Path(results_dir) if results_dir is not None else default_results_dir()
    return base / experiment / f"{config_hash(config)}.json"


def _atomic_write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as fh:
        json.dump(obj, fh, sort_keys=True, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_result(path: Path, config: Mapping):
    """The result stored in ``path`` for ``config``; a clear ``ValueError`` if the file is unreadable.

    A truncated or corrupt file, one without a ``result``, or one written for another config (its stored
    ``config`` differs) is an error naming the file and how to recompute it, never a silent result.
    """
    def bad(why: str) -> ValueError:
        return ValueError(f"cached result {path} {why}; delete the file and run the sweep again to recompute "
                          "that point (the other points stay cached)")
    try:
        with open(path) as fh:
            stored = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise bad(f"is not valid JSON ({err})") from err
    if not isinstance(stored, dict) or "result" not in stored or "config" not in stored:
        raise bad("does not hold a {'config': ..., 'result': ...} record")
    if stored["config"] != jsonable(config):
        raise bad("was written for another config")
    return stored["result"]


def load(experiment: str, config: Mapping, results_dir=None):
    """The cached result of one point, or ``None`` when it has not been computed."""
    path = result_path(experiment, config, results_dir)
    if not path.exists():
        return None
    return read_result(path, config)


class InlineExecutor(cf.Executor):
    """A ``concurrent.futures.Executor`` that runs each call at once, in this process."""

    def submit(self, fn, /, *args, **kwargs):
        fut = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as err:          # noqa: BLE001 - handed to the caller through the future
            fut.set_exception(err)
            if not isinstance(err, Exception):
                raise
        return fut


def run(point: Callable[..., Any], configs: Sequence[Mapping], experiment: str, *, device,
        results_dir: str | os.PathLike | None = None, executor: cf.Executor | None = None,
        progress: bool = True) -> list:
    """Run ``point(config, device=device, progress=...)`` for every config not yet cached; return all
    results in ``configs`` order.

    ``device`` (required: ``cfg.device`` of :func:`skillkit.setup`) is handed to every point and never
    hashed. Each result is written to ``results/<experiment>/<config_hash>.json`` as
    ``{"config": ..., "result": ...}`` as soon as it is ready. If a point raises, the points that
    finished are kept on disk and the first error is raised after the others have been collected
    (with the default in-process executor, the sweep stops at the failing point); calling ``run``
    again computes only what is missing. A point's own progress bar is shown in-process only.
    """
    configs = [dict(c) for c in configs]
    paths = [result_path(experiment, c, results_dir) for c in configs]
    results: list = [None] * len(configs)
    todo = []
    for i, (c, p) in enumerate(zip(configs, paths)):
        if p.exists():
            results[i] = read_result(p, c)
        else:
            todo.append(i)
    device = str(device)
    if not todo:
        return results
    executor = executor or InlineExecutor()
    bar = tqdm(total=len(configs), initial=len(configs) - len(todo), disable=not progress,
               desc=experiment, unit="point", leave=False)
    errors = []

    def finish(i: int, fut: cf.Future) -> None:
        err = fut.exception()
        if err is not None:
            errors.append(err)
            return
        res = jsonable(fut.result())
        _atomic_write_json(paths[i], {"config": jsonable(configs[i]), "result": res})
        results[i] = res
        bar.update(1)

    try:
        if isinstance(executor, InlineExecutor):
            for i in todo:                                    # stop at the first failing point
                finish(i, executor.submit(point, configs[i], device=device, progress=progress))
                if errors:
                    break
        else:
            futures = {executor.submit(point, configs[i], device=device, progress=False): i for i in todo}
            for fut in cf.as_completed(futures):
                finish(futures[fut], fut)
    finally:
        bar.close()
    if errors:
        raise errors[0]
    return results
