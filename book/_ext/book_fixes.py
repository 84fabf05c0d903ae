"""Small Sphinx fixes for this book, loaded as a local extension from _config.yml.

1. **Docstrings rendered as reStructuredText, robustly.** skillkit's docstrings are written for
   readers of the code: mostly reST (````code````, ``:func:`` roles, bullet lists, numpy-style
   ``Parameters`` sections), but with plain-text maths in which ``*`` and ``|`` are operators. The
   API page renders them as prose through three steps on ``autodoc-process-docstring``:

   - before napoleon: a ``Parameters`` entry written on one line as ``name : what it is`` (a
     description, not a type) is moved under its name, so napoleon shows it as the description
     instead of turning the sentence into a type and a cross-reference;
   - napoleon (numpy style) turns the sections into field lists;
   - after napoleon: ``*`` and ``|`` that cannot be markup are escaped, then the docstring is parsed
     once on its own; only a docstring that still produces a docutils warning or error (or uses an
     undefined substitution, target or footnote) is shown as a literal block, as ``help()`` would,
     and the build log says which one (at info level, so the strict build still passes and the
     docstring stays readable).

   A cross-reference in a docstring to a skillkit object that Sphinx cannot place (the class is
   documented under the module that defines it, the docstring names it where it is imported) links
   to where it is documented, or is shown as code if it is not on the API page (a private helper, a
   module constant); a reference to something that does not exist stays a nitpicky (-n) warning.
2. ``static/book_fixes.css``: an example in a docstring wraps its long lines on the API page.
3. Under Jupyter Book 1 the sphinx-thebe configuration script is registered twice, so every page
   declares ``const THEBE_JS_URL`` twice and the browser logs a SyntaxError. Duplicate inline
   scripts are dropped from each page.
"""
from __future__ import annotations

import importlib
import inspect
import io
import re
from pathlib import Path

from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser
from docutils.utils import new_document
from sphinx.ext.napoleon import Config as NapoleonConfig
from sphinx.ext.napoleon.docstring import NumpyDocstring
from sphinx.util import logging

logger = logging.getLogger(__name__)

# --- 1a. numpy sections through napoleon, written the way skillkit writes them ---------------

_FIELD_SECTIONS = {"parameters", "other parameters", "attributes", "keyword arguments"}
_NAMES = r"[*\w]+(?:\s*,\s*[*\w]+)*"
_ENTRY = re.compile(rf"^(?P<indent>\s*)(?P<names>{_NAMES})\s+:\s+(?P<rest>\S.*)$")
_BARE_ENTRY = re.compile(rf"^\s*{_NAMES}\s*$")
# what a numpy type looks like: int, float or None, torch.device, list of int, str, optional
_TOKEN = r"[A-Za-z_][\w.\-]*(?:\[[^\]]*\])?"
_TYPE = re.compile(rf"{_TOKEN}(?:(?:\s*,\s*|\s+or\s+|(?<=list|uple|ence|rray|dict)\s+of\s+){_TOKEN})*")
_NAPOLEON = NapoleonConfig(napoleon_google_docstring=False, napoleon_numpy_docstring=True,
                           napoleon_use_param=True, napoleon_use_rtype=True, napoleon_use_ivar=True)


def _is_type(text: str) -> bool:
    text = text.strip()
    return bool(_TYPE.fullmatch(text))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _numpy_chunks(lines: list[str]) -> list[list[str]]:
    """Split where prose resumes after a field section, and move one-line descriptions under names.

    skillkit writes ``name : what it is`` on one line (a description, not a type) and goes on with
    prose after a ``Parameters`` section. Napoleon would read the sentence as a type and the prose
    as more parameters; here each entry's description goes under its name and the prose starts a
    new chunk that napoleon parses on its own.
    """
    chunks, out, section, header_indent, i = [], [], None, 0, 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and re.fullmatch(r"\s*-{3,}\s*", nxt):         # a section header
            section, header_indent = line.strip().lower(), _indent(line)
            out += [line, nxt]
            i += 2
            continue
        if section in _FIELD_SECTIONS and line.strip():
            m = _ENTRY.match(line)
            if _indent(line) <= header_indent and not (m or _BARE_ENTRY.match(line)):
                chunks.append(out)                                    # prose after the section
                out, section = [], None
            elif m and _indent(line) <= header_indent and not _is_type(m["rest"]):
                line = m["indent"] + m["names"]
                out.append(line)
                line = m["indent"] + "    " + m["rest"]
        out.append(line)
        i += 1
    chunks.append(out)
    return chunks


def _signature_names(obj) -> set[str]:
    try:
        return set(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return set()


def _inline_parameters(lines: list[str], obj) -> list[str]:
    """A paragraph of ``name : description`` entries naming the signature's parameters, written
    without a ``Parameters`` header (``steps : SGD steps.  batch : samples per step.``), becomes a
    numpy ``Parameters`` section. Only when every name is a parameter and there is no such header.
    """
    params = _signature_names(obj)
    if not params or any(line.strip().lower() == "parameters" for line in lines):
        return lines
    names = "|".join(sorted(map(re.escape, params), key=len, reverse=True))
    entry = re.compile(rf"(?:^|(?<=\s))((?:{names})(?:\s*,\s*(?:{names}))*)\s+:\s+")
    out, para = [], []

    def flush():
        text = " ".join(line.strip() for line in para)
        starts = list(entry.finditer(text))
        indent = _indent(para[0]) if para else 0
        if len(starts) >= 2 and starts[0].start() == 0 and not any(_indent(l) < indent for l in para):
            pad = " " * indent
            out.extend([pad + "Parameters", pad + "----------"])
            for m, nxt in zip(starts, starts[1:] + [None]):
                desc = text[m.end():nxt.start() if nxt else len(text)].strip()
                out.extend([pad + m.group(1), pad + "    " + desc])
        else:
            out.extend(para)
        para.clear()
    for line in lines:
        if line.strip():
            para.append(line)
        else:
            flush()
            out.append(line)
    flush()
    return out


def _napoleon(app, what, name, obj, options, lines: list[str]) -> list[str]:
    if what in ("attribute", "data", "property"):
        # napoleon reads "type: description" on the first line; only when it is a type
        first = next((line for line in lines if line.strip()), "")
        head, colon, _ = first.partition(":")
        if not (colon and _is_type(head)):
            return list(lines)
    out = []
    for n, chunk in enumerate(_numpy_chunks(_inline_parameters(list(lines), obj))):
        doc = NumpyDocstring(chunk, _NAPOLEON, app, what if n == 0 else "function",
                             name if n == 0 else "", obj, options)
        if out and out[-1].strip():
            out.append("")
        out += doc.lines()
    return out


# --- 1b. escape what cannot be markup, then parse once; literal block only if that fails ------

_LITERAL = re.compile(r"(``.+?``|:[\w:.+-]+:`[^`]+`|`[^`]+`_{0,2})", re.S)  # left untouched
# *x* and **x** as a writer means them: after a space or an opening bracket, no * inside; kept
_EMPHASIS = re.compile(r"(?<![^\s(\[{'\"<\-/:])(\*\*?)(?=[^\s*])([^*]{1,200}?)(?<=\S)\1(?![\w*])")
_HEAD = re.compile(r"^(\s*)(:[^:`]+:(?=\s|$)|(?:[-*+]|\d+\.|#\.)\s+)?")   # field marker or bullet


def _escape_text(text: str) -> str:
    """Escape ``*``, ``|`` and a word's trailing ``_`` in plain text, except in balanced
    ``*emphasis*``/``**strong**`` pairs."""
    kept = []

    def keep(m):
        kept.append(m.group(0))
        return f"\x00{len(kept) - 1}\x00"
    text = _EMPHASIS.sub(keep, text)
    text = text.replace("*", r"\*").replace("|", r"\|")
    text = re.sub(r"(?<=\w)_(?=\W|$)", r"\_", text)                   # name_ is not a reference
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], text)


def _escape_paragraph(lines: list[str]) -> list[str]:
    """Escape one paragraph (inline markup may run across its lines, never beyond it)."""
    heads, bodies = [], []
    for line in lines:
        head = _HEAD.match(line).group(0)
        heads.append(head)
        bodies.append(line[len(head):])
    parts = _LITERAL.split("\n".join(bodies))
    escaped = "".join(p if i % 2 else _escape_text(p) for i, p in enumerate(parts)).split("\n")
    return [head + body for head, body in zip(heads, escaped)]


def _escape(lines: list[str]) -> list[str]:
    """Escape every paragraph; literal blocks, doctest blocks and directives' first lines stay."""
    out, para, literal_indent, doctest = [], [], None, False

    def flush():
        out.extend(_escape_paragraph(para))
        para.clear()
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if literal_indent is not None and line.strip() and indent <= literal_indent:
            literal_indent = None
        if not line.strip():
            flush()
            doctest = False
            out.append(line)
        elif literal_indent is not None or doctest or line.lstrip().startswith((">>>", "..")):
            flush()
            doctest = doctest or line.lstrip().startswith(">>>")
            out.append(line)
        else:
            para.append(line)
        if line.rstrip().endswith("::") and literal_indent is None:      # a literal block follows
            flush()
            literal_indent = indent
    flush()
    return out


def _problems(app, lines: list[str]) -> list[str]:
    """Warnings and errors docutils reports for these lines parsed on their own (empty: clean)."""
    settings = get_default_settings(Parser)
    settings.report_level = 5
    settings.halt_level = 5
    settings.warning_stream = io.StringIO()
    settings.env = app.env
    document = new_document("<docstring>", settings)
    found = []
    document.reporter.attach_observer(
        lambda msg: found.append(msg.astext().splitlines()[0]) if msg["level"] >= 2 else None)
    Parser().parse("\n".join(lines), document)
    targets = {name for node in document.findall(nodes.target) for name in node["names"]}
    for node in document.findall(nodes.substitution_reference):
        found.append(f"substitution |{node.astext()}| (none is defined in a docstring)")
    for node in document.findall(nodes.reference):
        if "refname" in node and node["refname"] not in targets:
            found.append(f"unknown target {node['refname']}_")
    for node in document.findall(nodes.footnote_reference):
        found.append(f"footnote reference {node.astext()}")
    for node in document.findall(nodes.citation_reference):
        found.append(f"citation reference {node.astext()}")
    return found


def _literal(lines: list[str]) -> list[str]:
    body = [("    " + line) if line.strip() else "" for line in lines]
    return ["::", ""] + body + [""]


def _render_or_literal(app, what, name, obj, options, lines):
    if not any(line.strip() for line in lines):
        return
    try:
        rendered = _escape(_napoleon(app, what, name, obj, options, lines))
        problems = _problems(app, rendered)
    except Exception as exc:                                            # noqa: BLE001
        problems = [f"{type(exc).__name__}: {exc}"]
    if problems:
        logger.info(f"[book_fixes] docstring of {name} shown as a literal block: {problems[0]}")
        rendered = _literal(list(lines))
    lines[:] = rendered


# --- 1c. references to skillkit objects that the py domain cannot place ---------------------

def _resolve_skillkit(app, env, node, contnode):
    """A docstring's reference to a skillkit object that exists, where Sphinx cannot find it.

    ``:meth:`MLPEnsemble.loss_and_grad``` written in ``skillkit.train`` (which imports the class)
    links to the documented ``skillkit.models.MLPEnsemble.loss_and_grad``; an object that exists
    but is not on the API page (a private helper, a module constant) is shown as code. A target
    that does not exist is left alone, so the nitpicky build still reports it.
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").lstrip("~.")
    module = node.get("py:module") or ""
    for full in [target] + ([f"{module}.{target}"] if module else []):
        obj = _import_dotted(full) if full.startswith("skillkit") else _MISSING
        if obj is _MISSING:
            continue
        owner = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if owner and qualname and owner.startswith("skillkit"):
            found = env.get_domain("py").resolve_xref(env, node.get("refdoc"), app.builder,
                                                      node.get("reftype"), f"{owner}.{qualname}",
                                                      node, contnode)
            if found is not None:
                return found
        return nodes.literal(contnode.astext(), contnode.astext())
    return None


_MISSING = object()


def _import_dotted(name: str):
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return _MISSING
        return obj
    return _MISSING


# --- 2. duplicate inline scripts --------------------------------------------------------------

def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        attrs = getattr(script, "attributes", {}) or {}
        key = (getattr(script, "filename", None) or "", attrs.get("body"))
        if key in seen:
            continue
        seen.add(key)
        kept.append(script)
    scripts[:] = kept


STATIC = Path(__file__).resolve().parent / "static"


def _add_static(app, config):
    config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("config-inited", _add_static)
    app.add_css_file("book_fixes.css")
    app.connect("autodoc-process-docstring", _render_or_literal)
    app.connect("missing-reference", _resolve_skillkit, priority=900)
    app.connect("html-page-context", _dedupe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
