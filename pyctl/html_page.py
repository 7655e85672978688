"""The page shell pyctl's HTML reports share (smoke, drift): one self-contained file each, no scripts and no
external files, the same look. Each report adds the rules of its own tables to :data:`BASE_CSS`."""

from __future__ import annotations

from html import escape

BASE_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2430;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.summary{color:#4a5568;margin-bottom:8px}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600;color:#fff}
.ok{background:#2f855a}.bad{background:#c53030}.warn{background:#b7791f}
table{border-collapse:collapse}td,th{border:1px solid #d8dee8;padding:4px 8px;vertical-align:top}
th{background:#f1f4f8;text-align:left;font-weight:600}
tr.rack th{background:#e2e8f0}
"""

END = "</body></html>"


def head(title: str, css: str = "") -> list[str]:
    """The page up to the opening ``<body>``: the title (escaped here) and the shared CSS, then ``css``."""
    return ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title>", f"<style>{BASE_CSS}{css}</style></head><body>"]
