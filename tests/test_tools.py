"""tools/nb.py bookkeeping and the book's docstring rendering (book/_ext/book_fixes.py), without a kernel.

``tools/nb.py run`` is exercised end to end on a throw-away notebook with nbclient's client replaced
by one that executes nothing, so the test checks the real read / Colab cell / clean / record / write
path in milliseconds.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


nb_tool = _load("nb_tool", ROOT / "tools" / "nb.py")


def _notebook(path: Path, title: str, skillkit_meta=None, volatile=True) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nText."),
                nbformat.v4.new_code_cell("x = 1", execution_count=1)]
    if skillkit_meta is not None:
        nb.metadata["skillkit"] = skillkit_meta
    if volatile:
        nb.metadata["widgets"] = {"state": {}}
        nb.metadata["colab"] = {"provenance": []}
        nb.cells[1].metadata["executionInfo"] = {"elapsed": 3}
    nbformat.write(nb, path)
    return path


class _NoKernel:
    """Stands in for nbclient.NotebookClient: records that it ran, executes nothing."""
    calls = 0

    def __init__(self, nb, **kwargs):
        self.nb = nb

    def execute(self):
        type(self).calls += 1
        return self.nb


@pytest.fixture
def no_kernel(monkeypatch):
    fake = types.ModuleType("nbclient")
    _NoKernel.calls = 0
    fake.NotebookClient = _NoKernel
    monkeypatch.setitem(sys.modules, "nbclient", fake)
    return _NoKernel


def test_run_keeps_from_scratch_and_replaces_the_run_bookkeeping(tmp_path, monkeypatch, no_kernel):
    path = _notebook(tmp_path / "05_x.ipynb", "Calibrating", {
        "scale": "ci", "runtime_s": 999.0, "where": "old machine",
        "from_scratch_s": 960.0, "from_scratch_where": "2-core CPU", "stray": "dropped"})
    monkeypatch.setenv("SKILLKIT_SCALE", "default")
    monkeypatch.setenv("SKILLKIT_WHERE", "H100 (Colab)")
    assert nb_tool.main(["run", str(path)]) == 0
    assert no_kernel.calls == 1

    nb = nbformat.read(path, as_version=4)
    meta = nb.metadata["skillkit"]
    assert meta["from_scratch_s"] == 960.0 and meta["from_scratch_where"] == "2-core CPU"
    assert meta["scale"] == "default" and meta["where"] == "H100 (Colab)"
    assert 0 <= meta["runtime_s"] < 60, "runtime_s is this run's time, not the old 999 s"
    assert "stray" not in meta, "only the keys of PRESERVED_KEYS survive a run"
    # clean() still ran: volatile metadata gone, the Colab cell first and hidden
    assert "widgets" not in nb.metadata and "colab" not in nb.metadata
    assert all("executionInfo" not in c.metadata for c in nb.cells)
    assert nb.cells[0].source.startswith(nb_tool.MARK) and nb.cells[0].metadata["tags"] == ["remove-cell"]


def test_run_without_from_scratch_does_not_invent_one(tmp_path, no_kernel):
    path = _notebook(tmp_path / "01_x.ipynb", "Task", None)
    assert nb_tool.main(["run", str(path)]) == 0
    meta = nbformat.read(path, as_version=4).metadata["skillkit"]
    assert "from_scratch_s" not in meta and set(meta) == {"scale", "runtime_s", "where"}


class _WritesResults(_NoKernel):
    """A kernel stand-in whose 'notebook' writes one sweep result where SKILLKIT_RESULTS points."""
    seen = None

    def execute(self):
        import os
        type(self).seen = os.environ.get("SKILLKIT_RESULTS")
        out = Path(type(self).seen) / "exp" / "abc.json"
        out.parent.mkdir(parents=True)
        out.write_text('{"config": {}, "result": {}}')
        return self.nb


def test_run_from_scratch_uses_an_empty_cache_records_seconds_and_keeps_the_results(tmp_path, monkeypatch):
    fake = types.ModuleType("nbclient")
    fake.NotebookClient = _WritesResults
    monkeypatch.setitem(sys.modules, "nbclient", fake)
    results = tmp_path / "results"
    (results / "exp").mkdir(parents=True)
    (results / "exp" / "old.json").write_text("{}")
    monkeypatch.setenv("SKILLKIT_RESULTS", str(results))
    path = _notebook(tmp_path / "06_x.ipynb", "Predicting", {"from_scratch_s": 1.0})
    assert nb_tool.main(["run", "--from-scratch", str(path)]) == 0
    assert _WritesResults.seen != str(results) and not Path(_WritesResults.seen).exists()   # a fresh, removed cache
    assert (results / "exp" / "abc.json").exists() and (results / "exp" / "old.json").exists()
    meta = nbformat.read(path, as_version=4).metadata["skillkit"]
    assert isinstance(meta["from_scratch_s"], float) and meta["from_scratch_s"] < 60
    assert meta["from_scratch_s"] == meta["runtime_s"]
    import os
    assert os.environ["SKILLKIT_RESULTS"] == str(results)                 # restored after the run


def test_clean_leaves_the_skillkit_metadata_alone(tmp_path):
    path = _notebook(tmp_path / "a.ipynb", "A", {"runtime_s": 3.0, "from_scratch_s": 60.0})
    nb = nbformat.read(path, as_version=4)
    nb_tool.clean(nb)
    assert nb.metadata["skillkit"] == {"runtime_s": 3.0, "from_scratch_s": 60.0}
    assert "widgets" not in nb.metadata


def test_runtimes_table_has_the_from_scratch_column(tmp_path):
    a = _notebook(tmp_path / "01_a.ipynb", "The task", {"scale": "default", "runtime_s": 18.1, "where": "2-core CPU"})
    b = _notebook(tmp_path / "05_b.ipynb", "Calibrating", {
        "scale": "default", "runtime_s": 430.0, "where": "2-core CPU", "from_scratch_s": 361.0})
    lines = nb_tool.runtimes_table([a, b]).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["chapter", "scale", "last run", "from an empty results cache"]
    assert lines[1].count("---") == len(header)
    rows = [line for line in lines[2:] if line.startswith("| [")]
    assert len(rows) == 2
    assert rows[0].startswith("| [The task](../notebooks/01_a.ipynb)")
    assert rows[0].rstrip().endswith("| 18 s | — |")
    assert "| 7.2 min | 6.0 min |" in rows[1]
    assert "Every chapter ran on: 2-core CPU." in lines


def test_runtimes_table_keeps_a_where_column_when_machines_differ(tmp_path):
    a = _notebook(tmp_path / "01_a.ipynb", "A", {"scale": "default", "runtime_s": 5, "where": "2-core CPU"})
    b = _notebook(tmp_path / "02_b.ipynb", "B", {"scale": "paper", "runtime_s": 500, "where": "H100"})
    c = _notebook(tmp_path / "03_c.ipynb", "C", None)
    lines = nb_tool.runtimes_table([a, b, c]).splitlines()
    assert lines[0] == "| chapter | scale | last run | from an empty results cache | where it ran |"
    assert lines[3].endswith("| paper | 8.3 min | — | H100 |")
    assert lines[4].endswith("| ? | not recorded | — | ? |")
    assert not any(line.startswith("Every chapter ran on") for line in lines)


# --- book/_ext/book_fixes.py: docstrings as reST, literal only when they fail to parse ----------

book_fixes = _load("book_fixes", ROOT / "book" / "_ext" / "book_fixes.py")
APP = types.SimpleNamespace(env=None)     # plain docutils: enough for docstrings without Sphinx roles


def _render(doc: str, what="function") -> list[str]:
    lines = doc.splitlines()
    book_fixes._render_or_literal(APP, what, "skillkit.x.f", None, {}, lines)
    return lines


def test_numpy_parameters_with_one_line_descriptions_become_fields():
    lines = _render("Sum of things.\n\nParameters\n----------\nn : number of things, at least 1.\n"
                    "device, dtype : where the result lives.\nk : int\n    the k.\n\n"
                    "``f(x)`` takes prose after the section.")
    assert ":param n: number of things, at least 1." in lines
    assert ":param device: where the result lives." in lines and ":param dtype: where the result lives." in lines
    assert ":param k: the k." in lines and ":type k: int" in lines
    assert lines[-1] == "``f(x)`` takes prose after the section.", "prose after the section stays prose"
    assert lines[0] != "::"


def test_operators_are_escaped_but_markup_kept():
    lines = _render("R = 2 * lr * p over (n, *p.shape) and a|b, **kwargs, name_\n"
                    "sees *the stream it would\nsee alone* and ``x*y|z``.")
    text = "\n".join(lines)
    assert r"(n, \*p.shape)" in text and r"a\|b" in text and r"\*\*kwargs" in text and r"name\_" in text
    assert "*the stream it would\nsee alone*" in text, "emphasis across lines is kept"
    assert "``x*y|z``" in text, "inline literals are untouched"


def test_a_docstring_that_does_not_parse_falls_back_to_a_literal_block():
    doc = "Bad text\n    unexpected indentation here\nback."
    assert book_fixes._problems(APP, doc.splitlines()), "docutils reports this docstring"
    assert _render(doc) == ["::", "", "    Bad text", "        unexpected indentation here", "    back.", ""]
    assert _render("Has an undefined |sub| substitution")[0] != "::", "| is escaped, so this one is fine"
    assert _render("See the footnote [1]_.")[0] == "::", "an undefined footnote is a problem"


def test_inline_name_colon_entries_of_the_signature_become_parameters():
    def f(steps=1, batch=2, betas=(0.9, 0.99), eps=1e-8):
        pass
    doc = ("Hyper-parameters.\n\nsteps : SGD steps.  batch : samples per\nstep.  betas, eps : Adam's.\n\n"
           "Not a list : steps is mentioned here.")
    lines = doc.splitlines()
    book_fixes._render_or_literal(APP, "function", "skillkit.x.f", f, {}, lines)
    for field in (":param steps: SGD steps.", ":param batch: samples per step.",
                  ":param betas: Adam's.", ":param eps: Adam's."):
        assert field in lines
    assert lines[-1] == "Not a list : steps is mentioned here."
    # names that are not parameters of the object: left as prose
    lines = doc.splitlines()
    book_fixes._render_or_literal(APP, "function", "skillkit.x.g", lambda other: None, {}, lines)
    assert not any(line.startswith(":param") for line in lines)


def test_squash_streams_keeps_what_a_terminal_shows():
    stream = lambda name, text: nbformat.v4.new_output("stream", name=name, text=text)
    outputs = [stream("stderr", "train:   0%|    | 0/3"), stream("stderr", "\rtrain:  33%|#   | 1/3"),
               stream("stderr", "\rtrain: 100%|####| 3/3\n"), stream("stdout", "done\n"),
               stream("stdout", "a\rb\n"), nbformat.v4.new_output("execute_result", data={"text/plain": "1"}),
               stream("stderr", "\r")]
    out = nb_tool.squash_streams(outputs)
    assert [o["output_type"] for o in out] == ["stream", "stream", "execute_result"]
    assert out[0]["name"] == "stderr" and out[0]["text"] == "train: 100%|####| 3/3\n"
    assert out[1]["name"] == "stdout" and out[1]["text"] == "done\nb\n"


def test_check_fails_on_a_chapter_without_from_scratch_seconds(tmp_path, monkeypatch, capsys):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_config.yml").write_text((ROOT / "_config.yml").read_text())
    good = _notebook(tmp_path / "notebooks" / "01_a.ipynb", "A", {"from_scratch_s": 12.0}, volatile=False)
    bad = _notebook(tmp_path / "notebooks" / "02_b.ipynb", "B", {"from_scratch": "about 6 min"}, volatile=False)
    monkeypatch.setattr(nb_tool, "ROOT", tmp_path)
    for path in (good, bad):
        nb = nbformat.read(path, as_version=4)
        nb_tool.ensure_colab_cell(nb)
        nb.cells[0].execution_count = 1
        nbformat.write(nb, path)
    monkeypatch.setattr(nb_tool, "notebooks", lambda: [good, bad])
    monkeypatch.setattr(nb_tool, "toc_pages", lambda: ["notebooks/01_a", "notebooks/02_b"])
    assert nb_tool.main(["check"]) == 1
    out = capsys.readouterr().out
    assert "02_b.ipynb: metadata.skillkit.from_scratch_s" in out and "01_a" not in out
