"""Checks of a written report shared by the report tests: well-formed, self-contained, images decode."""
from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from matplotlib.image import imread

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.tags: set[str] = set()
        self.ids: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "img":
            self.images.append(a.get("src") or "")
        for key in ("href", "src", "action", "srcset", "poster"):
            if key in a and tag != "img":
                self.links.append(a[key] or "")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def decode_png(data: bytes) -> np.ndarray:
    assert data.startswith(PNG_MAGIC), "not a PNG"
    img = imread(io.BytesIO(data), format="png")
    assert img.ndim == 3 and img.shape[0] > 20 and img.shape[1] > 20
    return img


def check_report(index: Path) -> dict:
    """Assert index.html is well-formed, self-contained, and every image is a non-blank PNG."""
    html = index.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>")
    p = _Checker()
    p.feed(html)
    p.close()
    assert not p.errors, p.errors[:5]
    assert not p.stack, f"unclosed tags: {p.stack}"
    assert len(p.ids) == len(set(p.ids)), "duplicate element ids"
    # self-contained: no scripts, stylesheets or fetches from elsewhere
    assert not ({"script", "link", "iframe", "object", "embed"} & p.tags)
    assert not re.search(r"(?i)\b(?:https?|ftp):|url\(|@import|src=\"//", html)
    assert all(href.startswith("#") for href in p.links), [h for h in p.links if not h.startswith("#")]
    inline = []
    for src in p.images:
        assert src.startswith("data:image/png;base64,"), src[:60]
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        img = decode_png(data)
        assert float(img[..., :3].std()) > 0.01, "blank figure"
        inline.append(data)
    files = sorted((index.parent / "figures").glob("*.png"))
    assert sorted(inline) == sorted(f.read_bytes() for f in files), "inline figures differ from figures/*.png"
    return {"html": html, "images": len(inline), "text": " ".join(p.text), "ids": p.ids}
