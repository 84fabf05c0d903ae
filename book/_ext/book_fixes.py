"""Small Sphinx fixes for this book, loaded as a local extension from _config.yml.

1. Every autodoc docstring is shown as preformatted text, the way ``help()`` does. skillkit's
   docstrings are written for readers of the code (unicode maths, ``*`` and ``|`` in formulas), not
   in reStructuredText; rendering them verbatim keeps the API reference exact and keeps the strict
   (-W) build independent of docstring markup.
2. Under Jupyter Book 1 the sphinx-thebe configuration script is registered twice, so every page
   declares ``const THEBE_JS_URL`` twice and the browser logs a SyntaxError. Duplicate inline
   scripts are dropped from each page.
"""


def _literal(app, what, name, obj, options, lines):
    if not any(line.strip() for line in lines):
        return
    body = [("    " + line) if line.strip() else "" for line in lines]
    lines[:] = ["::", ""] + body + [""]


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


def setup(app):
    app.connect("autodoc-process-docstring", _literal)
    app.connect("html-page-context", _dedupe_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
