"""index.html: escaped, self-contained, relative links, and it renders in a real (headless) browser."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from batch_helpers import have_chromium
from xrdq.batch import quantify_many

NASTY = 'odd <b>"name" & co'


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.rows, self.text = [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("href", "src"):
            if key in a:
                self.refs.append(a[key])
        if tag == "tr":
            self.rows += 1

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def report(pattern_dir, settings, tmp_path_factory) -> Path:
    """A batch over two good patterns (one with a nasty file name) and one broken file."""
    d = tmp_path_factory.mktemp("html_in")
    shutil.copy(pattern_dir / "mix_a.ras", d / "mix_a.ras")
    shutil.copy(pattern_dir / "mix_b.ras", d / f"{NASTY}.ras")
    (d / "broken.xy").write_text("1 2 3\nnot numbers\n")
    out = tmp_path_factory.mktemp("html_out") / "report"
    quantify_many([d], phases=settings["phases"], standard=("LiF", 0.3), jobs=1, progress=False, out=out)
    return out / "index.html"


def test_html_escapes_names_and_links_relatively(report):
    text = report.read_text(encoding="utf-8")
    assert NASTY not in text and html.escape(NASTY) in text
    assert "<script" not in text.lower()
    p = _Links()
    p.feed(text)
    assert p.rows == 1 + 3  # header + one row per file
    assert p.refs, "no links"
    for ref in p.refs:
        assert not re.match(r"^[a-z]+:", ref) and not ref.startswith("/"), ref  # relative, no external resources
        target = report.parent / Path(*[s for s in __import__("urllib.parse").parse.unquote(ref).split("/")])
        assert target.exists(), ref
    assert sum(r.startswith("plots/") and r.endswith(".png") for r in p.refs) == 2 * 2  # thumbnail + link, good files
    assert "failed" in "".join(p.text)


def _chromium(*args, timeout=90) -> subprocess.CompletedProcess:
    exe = have_chromium()
    with tempfile.TemporaryDirectory() as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(have_chromium() is None, reason="chromium is not installed (apt-get install chromium)")
def test_html_renders_in_headless_chromium(report, tmp_path):
    url = report.resolve().as_uri()
    dom = _chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    out = dom.stdout
    assert '<table id="results">' in out
    assert out.count("<tr") == 4
    assert html.escape(NASTY, quote=False) in out  # shown as text, not parsed as markup
    assert '<b>"name"' not in out
    assert re.search(r'id="summary">2 ok, 1 failed', out)
    shot = tmp_path / "page.png"
    res = _chromium(f"--screenshot={shot}", "--window-size=1200,900", url)
    assert shot.exists() and shot.stat().st_size > 10_000, res.stderr[-2000:]
    # the thumbnails loaded: the screenshot is far from a blank page
    from matplotlib.image import imread

    img = imread(shot)
    assert img.shape[0] == 900 and img.shape[1] == 1200
    assert img[..., :3].std() > 0.05
