"""pytest configuration shared by the unit tests and the notebook checks (nbval)."""


def pytest_collectstart(collector):
    # Progress bars and warnings go to stderr and differ between machines; SVG is never compared.
    path = getattr(collector, "path", None)
    if path is not None and path.suffix == ".ipynb":
        collector.skip_compare += ("stderr", "image/svg+xml", "application/vnd.jupyter.widget-view+json")
