"""The chapters' hidden first cell, run as Colab would run it, on this machine.

A fresh virtual environment stands in for Colab: torch (and the scientific stack Colab ships) is
installed first, a stub ``google.colab`` module is importable, the working directory is a scratch
folder (Colab's ``/content``), and the cell's repository URL points at a local clone of this
checkout. The cell must clone the book, install it editable without touching torch, move into its
``notebooks/``, and leave a kernel in which ``skillkit.setup()`` works and ``skillkit.sweeps`` finds the
committed ``results/`` of the clone.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLAB_STACK = ("torch", "numpy", "scipy", "sympy", "matplotlib", "tqdm")   # what Colab has before the cell
# a committed chapter-5 point (its config as the sweep hashed it): it must load from the clone
COMMITTED = ("calibration", {"batch": 1000, "init_std": 0.01, "log_every": 50, "lr": 0.02, "n_models": 8,
                             "n_skills": 1, "probe_n": 4000, "steps": 4000, "widths": 128})


def _nb_tool():
    spec = importlib.util.spec_from_file_location("nb_tool", ROOT / "tools" / "nb.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins() -> list[str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            pins[line.split("==")[0].strip().lower()] = line
    return [pins.get(name, name) for name in COLAB_STACK]


def _run(args, **kw):
    out = subprocess.run(args, capture_output=True, text=True, **kw)
    assert out.returncode == 0, f"{args[:4]} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


SESSION = """
import json, os, sys
import google.colab                      # on Colab this module is always there
import torch
before = (torch.__file__, torch.__version__)
exec(compile(open(sys.argv[1]).read(), "cell 1", "exec"))
import skillkit
from skillkit import sweeps
cfg = skillkit.setup(verbose=False)
name, config = json.loads(sys.argv[2])
print(json.dumps({"torch_before": before, "torch_after": (torch.__file__, torch.__version__),
                  "skillkit": skillkit.__file__, "cwd": os.getcwd(), "device": str(cfg.device),
                  "results": str(sweeps.default_results_dir()),
                  "committed_loads": sweeps.load(name, config) is not None}))
"""


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed to clone the book")
def test_first_cell_installs_the_book_as_colab_would(tmp_path):
    branch = _run(["git", "-C", str(ROOT), "rev-parse", "--abbrev-ref", "HEAD"]).strip()
    cell = _nb_tool().colab_source(url=f"file://{ROOT}", branch=branch)
    (tmp_path / "cell.py").write_text(cell)
    stub = tmp_path / "stub" / "google" / "colab"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("")
    (stub.parent / "__init__.py").write_text("")
    venv = tmp_path / "colab-venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    py = str(venv / "bin" / "python")
    _run([py, "-m", "pip", "install", "-q", *_pins()])
    content = tmp_path / "content"
    content.mkdir()
    (tmp_path / "session.py").write_text(SESSION)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SKILLKIT_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PYTHONPATH=str(tmp_path / "stub"), SKILLKIT_BOOK_DIR=str(tmp_path / "content" / "book"),
               SKILLKIT_DEVICE="cpu")
    out = _run([py, str(tmp_path / "session.py"), str(tmp_path / "cell.py"), json.dumps(COMMITTED)],
               cwd=content, env=env)
    got = json.loads(out.strip().splitlines()[-1])
    book = tmp_path / "content" / "book"
    assert got["torch_after"] == got["torch_before"], "the cell must leave Colab's torch alone"
    assert Path(got["torch_after"][0]).is_relative_to(venv), "torch is the environment's own"
    assert Path(got["skillkit"]).resolve() == (book / "skillkit" / "__init__.py").resolve()
    assert Path(got["cwd"]).resolve() == (book / "notebooks").resolve()
    assert Path(got["results"]).resolve() == (book / "results").resolve()
    assert got["committed_loads"], "the committed results of the clone must be found"
    # the install is editable (points at the clone, not a copy in site-packages) and torch was not reinstalled
    show = _run([py, "-m", "pip", "show", "-f", "skillkit"], env=env)
    assert "Editable project location: " + str(book) in show
    freeze = _run([py, "-m", "pip", "freeze"], env=env)
    assert any(line.lower().startswith("torch==2.13.0") for line in freeze.splitlines())
    # running the cell again (a second chapter in the same session) does not clone again
    marker = book / "notebooks" / ".second-run"
    marker.write_text("x")
    _run([py, str(tmp_path / "session.py"), str(tmp_path / "cell.py"), json.dumps(COMMITTED)], cwd=content, env=env)
    assert marker.exists()
