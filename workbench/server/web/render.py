"""Worker outputs as readable HTML: dicts as key/value tables, lists of dicts as tables, long lists folded.

Everything that came from a sample (keys, strings, filenames) goes through ``escape``; the only markup is ours.
Rendering is bounded: at most ``MAX_ITEMS`` items of a list and ``MAX_DEPTH`` levels are drawn, and the page
links the full JSON for the rest, so a 50,000-string output costs no more than a small one.
"""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup, escape

INLINE_ITEMS = 12  # lists of scalars up to this long are written inline, comma separated
VISIBLE_ROWS = 15  # rows of a table shown before the fold
MAX_ITEMS = 200  # items drawn at most per list; the full JSON has the rest
MAX_DEPTH = 5
LONG_TEXT = 240


def render_output(value: Any) -> Markup:
    """One worker's output (any JSON value) as HTML."""
    out: list[str] = []
    _value(value, 0, out)
    return Markup("".join(out))


def _value(value: Any, depth: int, out: list[str]) -> None:
    if isinstance(value, dict):
        _dict(value, depth, out)
    elif isinstance(value, list | tuple):
        _list(list(value), depth, out)
    else:
        _scalar(value, out)


def _scalar(value: Any, out: list[str]) -> None:
    if value is None:
        out.append('<span class="muted">none</span>')
    elif isinstance(value, bool):
        out.append('<span class="bool">yes</span>' if value else '<span class="bool muted">no</span>')
    elif isinstance(value, float):
        out.append(f'<span class="num">{value:.6g}</span>')
    elif isinstance(value, int):
        out.append(f'<span class="num">{value}</span>')  # no separators: ports, offsets and years read wrong
    else:
        text = str(value)
        if len(text) > LONG_TEXT:
            out.append(f'<details class="fold"><summary><code>{escape(text[:80])}</code>… '
                       f'({len(text):,} characters)</summary><pre>{escape(text)}</pre></details>')
        else:
            out.append(f"<code>{escape(text)}</code>" if text else '<span class="muted">(empty)</span>')


def _too_deep(value: Any, out: list[str]) -> None:
    text = json.dumps(value, default=str)
    out.append(f"<pre>{escape(text[:2000])}{'…' if len(text) > 2000 else ''}</pre>")


def _dict(value: dict, depth: int, out: list[str]) -> None:
    if not value:
        out.append('<span class="muted">(empty)</span>')
        return
    if depth >= MAX_DEPTH:
        _too_deep(value, out)
        return
    out.append('<table class="kv">')
    for key, item in value.items():
        out.append(f'<tr><th>{escape(str(key))}</th><td>')
        _value(item, depth + 1, out)
        out.append("</td></tr>")
    out.append("</table>")


def _list(items: list, depth: int, out: list[str]) -> None:
    if not items:
        out.append('<span class="muted">(empty)</span>')
        return
    if depth >= MAX_DEPTH:
        _too_deep(items, out)
        return
    if all(isinstance(i, dict) for i in items):
        _table(items, depth, out)
    elif all(not isinstance(i, dict | list | tuple) for i in items) and len(items) <= INLINE_ITEMS:
        for n, item in enumerate(items):
            if n:
                out.append(", ")
            _scalar(item, out)
    else:
        shown = items[:MAX_ITEMS]
        head, rest = shown[:VISIBLE_ROWS], shown[VISIBLE_ROWS:]
        out.append('<ol class="items">')
        for item in head:
            out.append("<li>")
            _value(item, depth + 1, out)
            out.append("</li>")
        out.append("</ol>")
        if rest:
            out.append(f'<details class="fold"><summary>{len(items) - len(head):,} more</summary>'
                       f'<ol class="items" start="{len(head) + 1}">')
            for item in rest:
                out.append("<li>")
                _value(item, depth + 1, out)
                out.append("</li>")
            out.append("</ol>")
            _more(len(items), out)
            out.append("</details>")


def _table(rows: list[dict], depth: int, out: list[str]) -> None:
    columns: list[str] = []
    for row in rows[:MAX_ITEMS]:
        for key in row:
            if key not in columns:
                columns.append(key)
    header = "".join(f"<th>{escape(str(c))}</th>" for c in columns)

    def body(part: list[dict]) -> None:
        for row in part:
            out.append("<tr>")
            for column in columns:
                out.append("<td>")
                if column in row:
                    _value(row[column], depth + 1, out)
                out.append("</td>")
            out.append("</tr>")

    shown = rows[:MAX_ITEMS]
    out.append(f'<table class="grid"><thead><tr>{header}</tr></thead><tbody>')
    body(shown[:VISIBLE_ROWS])
    out.append("</tbody></table>")
    if len(shown) > VISIBLE_ROWS:
        out.append(f'<details class="fold"><summary>{len(rows) - VISIBLE_ROWS:,} more rows</summary>'
                   f'<table class="grid"><thead><tr>{header}</tr></thead><tbody>')
        body(shown[VISIBLE_ROWS:])
        out.append("</tbody></table>")
        _more(len(rows), out)
        out.append("</details>")


def _more(total: int, out: list[str]) -> None:
    if total > MAX_ITEMS:
        out.append(f'<p class="muted">{total - MAX_ITEMS:,} more not drawn: see the full JSON.</p>')
