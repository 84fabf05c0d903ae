"""Notebook housekeeping: the Colab cell, execution at a scale, and metadata cleaning.

    python tools/nb.py colab                 # (re)write cell 1 of every notebook from _config.yml
    python tools/nb.py run NB [NB ...]       # execute in place at $SKILLKIT_SCALE (default), clean
    python tools/nb.py run --from-scratch NB # the same from an empty results cache: records from_scratch_s
    python tools/nb.py clean NB [NB ...]     # clean metadata, squash progress-bar output, in place
    python tools/nb.py from-py SRC.py NB     # convert a py:percent script to a notebook (jupytext)
    python tools/nb.py check                 # fail if a Colab cell is stale, a cell unexecuted, a chapter
                                             # missing from _toc.yml or its from_scratch_s unrecorded
    python tools/nb.py runtimes              # write book/_generated/runtimes.md (reproducibility page)

Cell 1 of every chapter is hidden on the site (tag ``remove-cell``) and is a no-op except on Colab,
where it clones the book's repository (named in _config.yml) shallow, installs it editable without its
dependencies (Colab's torch stays) and changes into its ``notebooks/``, so the committed results are
found. ``tests/test_colab.py`` runs it in a fresh virtual environment against a local clone.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
MARK = "# Colab only: install skillkit"
VOLATILE_NB_KEYS = ("widgets", "colab", "accelerator", "gpuClass", "toc")
VOLATILE_CELL_KEYS = ("colab", "executionInfo", "outputId", "execution", "collapsed", "scrolled")


def repository() -> tuple[str, str]:
    """(url, branch) of the book's repository, read from _config.yml."""
    import yaml
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = cfg["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def colab_source(url: str | None = None, branch: str | None = None) -> str:
    """Cell 1 of every chapter for the repository ``url`` at ``branch`` (default: _config.yml's)."""
    if url is None or branch is None:
        url0, branch0 = repository()
        url, branch = url or url0, branch or branch0
    name = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    return (f"{MARK} from a shallow clone of the book, editable, without its dependencies (torch stays Colab's own).\n"
            "import os, subprocess, sys\n"
            "if \"google.colab\" in sys.modules:\n"
            f"    book = os.environ.get(\"SKILLKIT_BOOK_DIR\", \"/content/{name}\")\n"
            "    if not os.path.isdir(book):\n"
            f"        subprocess.run([\"git\", \"clone\", \"-q\", \"--depth\", \"1\", \"--branch\", \"{branch}\",\n"
            f"                        \"{url}\", book], check=True)\n"
            "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", \"--no-deps\", \"-e\", book], check=True)\n"
            "    sys.path.insert(0, book)      # this kernel sees the editable install without a restart\n"
            "    os.chdir(os.path.join(book, \"notebooks\"))")


def ensure_colab_cell(nb) -> bool:
    """Make cell 1 the current Colab cell; return True if the notebook changed."""
    src = colab_source()
    first = nb.cells[0] if nb.cells else None
    if first is not None and first.cell_type == "code" and first.source.startswith(MARK):
        changed = first.source != src or "remove-cell" not in first.metadata.get("tags", [])
        first.source = src
        first.metadata["tags"] = ["remove-cell"]
        return changed
    cell = nbformat.v4.new_code_cell(src, metadata={"tags": ["remove-cell"]})
    nb.cells.insert(0, cell)
    return True


def clean(nb) -> None:
    """Drop volatile metadata so diffs show only content and outputs."""
    for key in VOLATILE_NB_KEYS:
        nb.metadata.pop(key, None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    for cell in nb.cells:
        for key in VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = squash_streams(cell.outputs)


def _terminal_text(text: str) -> str:
    """What a terminal shows for ``text``: on each line, a carriage return wipes what came before it."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def squash_streams(outputs: list) -> list:
    """Merge consecutive stream outputs of the same name and resolve carriage returns.

    A progress bar (tqdm) writes one stream fragment per update, each starting with ``\r``; a run
    from an empty results cache would otherwise commit hundreds of fragments per cell. Only the final
    state of each line is kept, as a terminal shows it.
    """
    out = []
    for o in outputs:
        if (o.get("output_type") == "stream" and out and out[-1].get("output_type") == "stream"
                and out[-1].get("name") == o.get("name")):
            out[-1]["text"] = out[-1]["text"] + o["text"]
        else:
            out.append(o)
    for o in out:
        if o.get("output_type") == "stream":
            o["text"] = _terminal_text(o["text"])
    return [o for o in out if o.get("output_type") != "stream" or o["text"].strip()]


def notebooks() -> list[Path]:
    return sorted(Path(p) for p in glob.glob(str(ROOT / "notebooks" / "*.ipynb")))


def cmd_colab(_args) -> int:
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        if ensure_colab_cell(nb):
            nbformat.write(nb, path)
            print(f"updated {path.relative_to(ROOT)}")
    return 0


# keys of nb.metadata["skillkit"] that a re-run from the cache keeps (only a from-scratch run rewrites them)
PRESERVED_KEYS = ("from_scratch_s", "from_scratch_where")


def record_run(nb, scale: str, elapsed: float, where: str, from_scratch: bool = False) -> None:
    """Write the run's bookkeeping into ``nb.metadata["skillkit"]``.

    ``scale``, ``runtime_s`` and ``where`` describe this run and replace the previous ones.
    ``from_scratch_s`` (seconds, a number) is what the chapter costs from an empty results cache: written
    by a ``--from-scratch`` run (with ``from_scratch_where``), kept as it was by a run from the cache.
    """
    old = nb.metadata.get("skillkit", {}) or {}
    kept = {key: old[key] for key in PRESERVED_KEYS if key in old}
    if from_scratch:
        kept = {"from_scratch_s": round(elapsed, 1), "from_scratch_where": where}
    nb.metadata["skillkit"] = {"scale": scale, "runtime_s": round(elapsed, 1), "where": where, **kept}


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def cmd_run(args) -> int:
    import shutil
    import tempfile

    from nbclient import NotebookClient
    scale = os.environ.get("SKILLKIT_SCALE", "default")
    where = os.environ.get("SKILLKIT_WHERE", "2-core CPU (development machine)")
    for name in args.notebooks:
        path = Path(name).resolve()
        nb = nbformat.read(path, as_version=4)
        ensure_colab_cell(nb)
        env_before = os.environ.get("SKILLKIT_RESULTS")
        scratch = tempfile.mkdtemp(prefix="skillkit-scratch-") if args.from_scratch else None
        if scratch:
            os.environ["SKILLKIT_RESULTS"] = scratch          # inherited by the kernel: an empty cache
        try:
            start = time.time()
            client = NotebookClient(nb, timeout=None, kernel_name="python3",
                                    resources={"metadata": {"path": str(path.parent)}})
            client.execute()
            elapsed = time.time() - start
        finally:
            if scratch:
                if env_before is None:
                    os.environ.pop("SKILLKIT_RESULTS", None)
                else:
                    os.environ["SKILLKIT_RESULTS"] = env_before
        if scratch:      # what the run computed becomes the committed cache, so a re-run reproduces it
            dest = Path(env_before) if env_before else ROOT / "results"
            for f in sorted(Path(scratch).rglob("*.json")):
                target = dest / f.relative_to(scratch)
                target.parent.mkdir(parents=True, exist_ok=True)
                print(f"  {'replaced' if target.exists() else 'new'}: {_shown(target)}")
                shutil.copyfile(f, target)
            shutil.rmtree(scratch)
        clean(nb)
        record_run(nb, scale, elapsed, where, from_scratch=bool(scratch))
        nbformat.write(nb, path)
        print(f"{_shown(path)}: ran at scale {scale} in {elapsed:.0f} s" + (" from an empty cache" if scratch else ""))
    return 0


def cmd_clean(args) -> int:
    for name in args.notebooks:
        path = Path(name).resolve()
        nb = nbformat.read(path, as_version=4)
        clean(nb)
        nbformat.write(nb, path)
        print(f"cleaned {path.relative_to(ROOT)}")
    return 0


def cmd_from_py(args) -> int:
    import jupytext
    nb = jupytext.read(args.src, fmt="py:percent")
    ensure_colab_cell(nb)
    clean(nb)
    nbformat.write(nb, args.dst)
    print(f"wrote {args.dst}")
    return 0


def toc_pages() -> list[str]:
    """Every document of _toc.yml in reading order, as a path without suffix (e.g. 'notebooks/01_task_and_skills')."""
    import yaml
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [str(Path(toc["root"]).with_suffix(""))]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(str(Path(entry["file"]).with_suffix("")))
            walk(entry.get("sections"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return pages


def cmd_check(_args) -> int:
    bad = []
    src = colab_source()
    toc = set(toc_pages())
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        first = nb.cells[0]
        if first.source != src or first.metadata.get("tags") != ["remove-cell"]:
            bad.append(f"{path.name}: cell 1 is not the current Colab cell (run `make colab`)")
        code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
        if any(c.execution_count is None for c in code):
            bad.append(f"{path.name}: has unexecuted code cells")
        if str(path.relative_to(ROOT).with_suffix("")) not in toc:
            bad.append(f"{path.name}: not in _toc.yml, so the site would not show it")
        scratch = (nb.metadata.get("skillkit") or {}).get("from_scratch_s")
        if isinstance(scratch, bool) or not isinstance(scratch, (int, float)):
            bad.append(f"{path.name}: metadata.skillkit.from_scratch_s (seconds from an empty results cache) is "
                       "not recorded; run `tools/nb.py run --from-scratch`")
    print("\n".join(bad) if bad else f"{len(notebooks())} notebooks ok")
    return 1 if bad else 0


PACKAGES = ("torch", "numpy", "scipy", "sympy", "matplotlib", "tqdm", "jupyter-book", "sphinx",
            "myst-nb", "sphinx-book-theme", "sphinxcontrib-bibtex", "nbval", "pytest")


def _cell(text) -> str:
    """A value as a markdown table cell: one line, ``|`` escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _runtime(seconds) -> str:
    if seconds is None:
        return "not recorded"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def runtimes_table(paths) -> str:
    """The chapters' table of the reproducibility page, from each notebook's metadata.

    "last run" is ``runtime_s`` (the last ``tools/nb.py run``, which reuses results/), "from an
    empty results cache" is ``from_scratch_s`` (the last ``tools/nb.py run --from-scratch``; "—" when absent). Where every
    chapter ran on the same machine, that is said once under the table instead of in a column.
    """
    rows = []
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        title = next((c.source.splitlines()[0].lstrip("# ").strip() for c in nb.cells
                      if c.cell_type == "markdown" and c.source.startswith("# ")), path.stem)
        meta = nb.metadata.get("skillkit", {}) or {}
        rows.append((f"[{_cell(title)}](../notebooks/{path.name}) `{path.name}`",
                     _cell(meta.get("scale", "?")), _runtime(meta.get("runtime_s")),
                     _runtime(meta["from_scratch_s"]) if isinstance(meta.get("from_scratch_s"), (int, float)) else "—",
                     _cell(meta.get("where", "?"))))
    wheres = {row[-1] for row in rows}
    one_place = len(wheres) == 1
    head = ["chapter", "scale", "last run", "from an empty results cache"] + ([] if one_place else ["where it ran"])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(row[:-1] if one_place else row) + " |" for row in rows]
    if one_place and rows:
        lines += ["", f"Every chapter ran on: {next(iter(wheres))}."]
    return "\n".join(lines) + "\n"


def cmd_runtimes(args) -> int:
    """Write the reproducibility tables (chapters and package versions) included by book/reproducing.md."""
    from importlib import metadata
    lines = [runtimes_table(notebooks()), "Package versions of the environment that built this page:", "",
             "| package | version |", "| --- | --- |"]
    lines.append(f"| Python | {sys.version.split()[0]} |")
    for name in PACKAGES:
        try:
            lines.append(f"| {name} | {metadata.version(name)} |")
        except metadata.PackageNotFoundError:
            lines.append(f"| {name} | not installed |")
    out = ROOT / "book" / "_generated" / "runtimes.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("colab").set_defaults(func=cmd_colab)
    p = sub.add_parser("run")
    p.add_argument("--from-scratch", action="store_true",
                   help="run from an empty results cache and record metadata.skillkit.from_scratch_s")
    p.add_argument("notebooks", nargs="+")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("clean")
    p.add_argument("notebooks", nargs="+")
    p.set_defaults(func=cmd_clean)
    p = sub.add_parser("from-py")
    p.add_argument("src")
    p.add_argument("dst")
    p.set_defaults(func=cmd_from_py)
    sub.add_parser("check").set_defaults(func=cmd_check)
    sub.add_parser("runtimes").set_defaults(func=cmd_runtimes)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
