"""The built site as a reader meets it: every page of the table of contents in headless Chromium.

For each page: it loads, MathJax typesets every formula without error, every image loads with a
nonzero natural width and height, the browser logs no error, and a chapter's Colab link points at
its ``.ipynb`` on the main branch of the repository named in ``_config.yml``. The whole of each page
is saved, top to bottom, as ``_build/screenshots/<page>_01.png``, ``_02.png``, ... (``PART`` px of
page each). Links inside the site are checked statically, every one of them, and no page loads a
script or style from the network.

``SKILLKIT_SITE_DIR`` points at an existing build (``make test`` builds first); without it the test
builds the book into ``_build`` itself. The browser is ``$CHROME_BIN`` and the driver
``$CHROMEDRIVER`` when set, else the first working chromium, chromium-browser, google-chrome or
chrome, and chromedriver, on the PATH. Where none is found (on Debian: packages ``chromium`` and
``chromium-driver``) or selenium is missing, the browser checks are skipped with that reason,
unless ``SKILLKIT_REQUIRE_BROWSER`` is set (CI), which makes that a failure.
"""
from __future__ import annotations

import base64
import functools
import importlib.util
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import struct
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.site            # not part of a plain `pytest tests/` (pyproject addopts)
SHOTS = ROOT / "_build" / "screenshots"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
WIDTH, VIEWPORT = 1280, 1000      # the browser window, in CSS pixels
PART = 2000                       # height of one screenshot part


def _nb_tool():
    spec = importlib.util.spec_from_file_location("nb_tool", ROOT / "tools" / "nb.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PAGES = _nb_tool().toc_pages()        # every document in _toc.yml, in reading order


@pytest.fixture(scope="session")
def site_dir() -> Path:
    given = os.environ.get("SKILLKIT_SITE_DIR")
    if given:
        site = Path(given).resolve()
        assert (site / "index.html").exists(), f"SKILLKIT_SITE_DIR={given} holds no built site"
        return site
    jb = Path(sys.executable).with_name("jupyter-book")
    subprocess.run([str(jb), "build", str(ROOT), "-W", "-n", "--keep-going"], check=True, cwd=ROOT,
                   capture_output=True)
    return ROOT / "_build" / "html"


@pytest.fixture(scope="session")
def base_url(site_dir):
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _works(binary: str) -> bool:
    """True if ``binary --version`` runs (Ubuntu's ``chromium-browser`` snap stub does not)."""
    try:
        return subprocess.run([binary, "--version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chrome() -> tuple[str | None, str | None, str]:
    """(browser, chromedriver, why-not) from $CHROME_BIN / $CHROMEDRIVER, else the PATH.

    ``$CHROMEWEBDRIVER`` (the folder GitHub's Ubuntu runners put chromedriver in) is also searched.
    A variable that is set must name a working program: that is an error, not a reason to skip.
    """
    chrome = os.environ.get("CHROME_BIN")
    if chrome:
        if not _works(chrome):
            raise RuntimeError(f"CHROME_BIN={chrome} does not run (`{chrome} --version` failed)")
    else:
        chrome = next((path for path in map(shutil.which, BROWSERS) if path and _works(path)), None)
    driver = os.environ.get("CHROMEDRIVER")
    if driver:
        if not _works(driver):
            raise RuntimeError(f"CHROMEDRIVER={driver} does not run (`{driver} --version` failed)")
    else:
        folder = os.environ.get("CHROMEWEBDRIVER")
        found = [shutil.which("chromedriver")] + ([str(Path(folder) / "chromedriver")] if folder else [])
        driver = next((path for path in found if path and _works(path)), None)
    why = "" if chrome and driver else (
        "no working " + " or ".join(["Chromium/Chrome (" + ", ".join(BROWSERS) + "; or set CHROME_BIN)"] * (not chrome)
                                   + ["chromedriver (or set CHROMEDRIVER)"] * (not driver)))
    return chrome, driver, why


@pytest.fixture(scope="session")
def browser():
    chromium, driver, why = find_chrome()
    if why:
        message = (f"headless Chromium is not available: {why}. On Debian, `make test-site` installs the "
                   "packages chromium and chromium-driver where it can")
        if os.environ.get("SKILLKIT_REQUIRE_BROWSER"):
            pytest.fail(message + " (SKILLKIT_REQUIRE_BROWSER is set, so this is a failure)")
        pytest.skip(message + ": browser checks skipped")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        if os.environ.get("SKILLKIT_REQUIRE_BROWSER"):
            pytest.fail("selenium is not installed")
        pytest.skip("selenium is not installed: browser checks skipped")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="skillkit-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic", "--hide-scrollbars", "--force-device-scale-factor=1",
                 f"--window-size={WIDTH},{VIEWPORT}", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(driver), options=opts)
    drv.set_script_timeout(60)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


WAIT_FOR_MATHJAX_AND_IMAGES = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images).map(img => img.complete ? Promise.resolve() :
    new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); }));
const mj = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
Promise.all([mj, ...images]).then(() => {
  const maths = Array.from(document.querySelectorAll('span.math, div.math'));
  done({
    mathjax: !!(window.MathJax && MathJax.startup),
    n_math: maths.length,
    untypeset: maths.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 60)),
    merrors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent.slice(0, 60)),
    broken_images: Array.from(document.images)
        .filter(i => !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0)).map(i => i.src),
    n_images: document.images.length,
    colab: Array.from(document.querySelectorAll('a[href*="colab.research.google.com"]')).map(a => a.href),
    overflowing: Array.from(document.querySelectorAll(
        'article .pst-scrollable-table-container, article table, article pre, article div.math, article mjx-container[display]'))
        .filter(e => e.scrollWidth > e.clientWidth + 1)
        .map(e => `${e.tagName.toLowerCase()} ${e.scrollWidth}px in ${e.clientWidth}px: ${e.textContent.trim().slice(0, 50)}`),
    title: document.title,
  });
}).catch(e => done({error: String(e)}));
"""


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


SETTLE = """
const done = arguments[arguments.length - 1];
requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 100)));
"""


def save_screenshots(browser, page: str) -> list[Path]:
    """The whole page, top to bottom, as ``<page>_01.png``, ``<page>_02.png``, ... (PART px each).

    The viewport is made as tall as the page (DevTools ``Emulation.setDeviceMetricsOverride``), the
    layout is left to settle, and each part is a clip of it (``Page.captureScreenshot``), so nothing
    is cut off however long the page is and the parts do not overlap.
    """
    stem = page.replace("/", "__")
    for old in list(SHOTS.glob(f"{stem}.png")) + list(SHOTS.glob(f"{stem}_[0-9][0-9].png")):
        old.unlink()
    height = browser.execute_script(
        "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False})
    try:
        browser.execute_async_script(SETTLE)
        height = browser.execute_script(
            "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)")
        paths = []
        for n, top in enumerate(range(0, height, PART), start=1):
            clip = {"x": 0, "y": top, "width": WIDTH, "height": min(PART, height - top), "scale": 1}
            shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "clip": clip})
            data = base64.b64decode(shot["data"])
            assert _png_size(data) == (clip["width"], clip["height"]), \
                f"screenshot part {n} of {page} is {_png_size(data)}, not {clip['width']}x{clip['height']}"
            path = SHOTS / f"{stem}_{n:02d}.png"
            path.write_bytes(data)
            paths.append(path)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert sum(_png_size(p.read_bytes())[1] for p in paths) == height, "screenshots do not cover the page"
    return paths


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(page, base_url, browser):
    browser.get(f"{base_url}/{page}.html")
    info = browser.execute_async_script(WAIT_FOR_MATHJAX_AND_IMAGES)
    SHOTS.mkdir(parents=True, exist_ok=True)
    save_screenshots(browser, page)
    assert "error" not in info, info
    assert info["title"], "page has no title"
    if info["n_math"]:
        assert info["mathjax"], "the page has maths but MathJax did not load (it must ship with the book)"
        assert not info["untypeset"], f"maths left untypeset: {info['untypeset'][:3]}"
        assert not info["merrors"], f"MathJax errors: {info['merrors'][:3]}"
    assert not info["broken_images"], f"images that did not load: {info['broken_images']}"
    if page.startswith("book/"):
        # the book's own pages (chapters are notebooks, their outputs are what the code printed)
        assert not info["overflowing"], f"content wider than the page, scrolls sideways: {info['overflowing'][:3]}"
    severe = [e["message"] for e in browser.get_log("browser")
              if e["level"] == "SEVERE" and "favicon" not in e["message"]]
    assert not severe, f"browser errors: {severe[:3]}"

    source = ROOT / f"{page}.ipynb"
    if source.exists():
        url, branch = CONFIG["repository"]["url"].rstrip("/"), CONFIG["repository"].get("branch")
        assert branch == "main", "repository.branch in _config.yml must be main"
        org_repo = urlparse(url).path.strip("/")
        expected = f"https://colab.research.google.com/github/{org_repo}/blob/main/{page}.ipynb"
        assert expected in info["colab"], f"Colab link {info['colab']} is not {expected}"


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag in ("img", "script") and attrs.get("src"):
            self.hrefs.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.hrefs.append(attrs["href"])


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def test_no_broken_internal_links(site_dir):
    pages = [p for p in site_dir.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts]
    assert pages, "no HTML pages found"
    broken = []
    for page in pages:
        for href in _parse(page).hrefs:
            if urlparse(href).scheme or href.startswith(("mailto:", "//", "javascript:")):
                continue
            target, frag = urldefrag(href)
            target = urlparse(target).path                       # drop ?v=... cache busters
            dest = page if not target else (page.parent / unquote(target)).resolve()
            if dest.is_dir():
                dest = dest / "index.html"
            if not dest.exists():
                broken.append(f"{page.relative_to(site_dir)} -> {href}")
            elif frag and dest.suffix == ".html" and unquote(frag) not in _parse(dest).ids:
                broken.append(f"{page.relative_to(site_dir)} -> {href} (no such anchor)")
    assert not broken, "broken links inside the site:\n" + "\n".join(broken[:20])


def test_every_toc_page_was_built(site_dir):
    missing = [p for p in PAGES if not (site_dir / f"{p}.html").exists()]
    assert not missing, f"pages in _toc.yml missing from the build: {missing}"


def test_site_loads_nothing_from_a_cdn(site_dir):
    """MathJax and every script ship with the book: the site works offline."""
    remote = []
    for page in site_dir.rglob("*.html"):
        if "_static" in page.parts:
            continue
        for href in _parse(page).hrefs:
            if href.startswith(("http://", "https://", "//")) and href.endswith((".js", ".css")):
                remote.append(f"{page.relative_to(site_dir)}: {href}")
    assert not remote, "scripts or styles loaded from the network:\n" + "\n".join(remote[:10])
