"""The report in a real headless browser: it loads, every image decodes, no console error, not blank."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from report_helpers import check_report, decode_png

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
BROWSER = next((b for b in BROWSERS if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no headless Chromium on this machine "
                                "(Debian: apt-get install chromium); the HTML checks in test_report_build still run")

# Injected into a copy of the page: records script errors, failed resource loads and console.error,
# then, once everything loaded, writes what it saw into the title for --dump-dom to print.
PROBE = """<script>
window.__errs = [];
window.addEventListener('error', function (e) {
  window.__errs.push(String(e.message || (e.target && (e.target.src || e.target.href)) || 'error').slice(0, 120));
}, true);
(function () { var ce = console.error; console.error = function () {
  window.__errs.push(Array.prototype.join.call(arguments, ' ')); ce.apply(console, arguments); }; })();
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
  document.title = 'PROBE ' + JSON.stringify({images: imgs.length, decoded: ok, errors: window.__errs});
});
</script>"""


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def test_report_loads_in_headless_chromium(full_report, tmp_path):
    _, index = full_report
    expected = check_report(index)["images"]
    probe = tmp_path / "probe.html"
    probe.write_text(index.read_text(encoding="utf-8").replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    out = _chromium(tmp_path, "--virtual-time-budget=15000", "--dump-dom", probe.as_uri())
    found = re.search(r"<title>PROBE (.*?)</title>", out.stdout)
    assert found, f"page did not finish loading: {out.stderr[-2000:]}"
    seen = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert seen["errors"] == []
    assert seen["images"] == expected and seen["decoded"] == expected

    shot = tmp_path / "shot.png"
    out = _chromium(tmp_path, "--window-size=1280,2000", f"--screenshot={shot}", index.as_uri())
    assert shot.is_file(), out.stderr[-2000:]
    img = decode_png(shot.read_bytes())[..., :3]
    assert img.shape[:2] == (2000, 1280)
    ink = (img < 0.9).any(-1).mean()  # share of pixels that are not (near) white
    assert 0.02 < ink < 0.9 and float(img.std()) > 0.05


def test_probe_catches_broken_images_and_console_errors(tmp_path):
    """Control: the probe above would notice a broken figure and a console error."""
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><html><head><title>x</title></head><body>"
                    '<img src="data:image/png;base64,AAAA"><script>console.error("boom")</script></body></html>')
    page.write_text(page.read_text().replace("<head>", "<head>\n" + PROBE, 1))
    out = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    seen = json.loads(re.search(r"<title>PROBE (.*?)</title>", out.stdout).group(1).replace("&quot;", '"'))
    assert seen["images"] == 1 and seen["decoded"] == 0
    assert "boom" in seen["errors"]
