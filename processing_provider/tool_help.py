"""Each tool's help has one source, ``docs/tools/<tool>.md``: the dialog's side panel
(shortHelpString) and the page behind its Help button (helpUrl) are rendered from it.

Why a renderer here: QGIS's Python has no Markdown package (python-markdown is not a QGIS
dependency on Debian, OSGeo4W or macOS), and Qt's QTextDocument.setMarkdown loses code
formatting and makes whole list items bold in Qt 5.15's HTML export. The pages use a small,
fixed subset of Markdown, documented in docs/CONVENTIONS.md: ``#`` headings, paragraphs, ``- ``
lists, fenced code, pipe tables, and inline ``code``, ``**bold**``, ``*italic*`` and links.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "tools"
_INLINE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|\*([^*\s][^*]*?)\*|\[([^\]]+)\]\(([^)\s]+)\)")
_PAGE_STYLE = ("body{font-family:sans-serif;max-width:52em;margin:1.5em auto;padding:0 1em;"
               "line-height:1.45}code,pre{background:#f3f3f3;font-family:monospace}"
               "pre{padding:.6em;overflow-x:auto}table{border-collapse:collapse}"
               "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}")


def markdown_of(tool: str) -> str:
    return (DOCS / f"{tool}.md").read_text(encoding="utf-8")


def inline(text: str, links: bool = True) -> str:
    """Inline Markdown of one line as HTML; everything else is escaped."""
    out, last = [], 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[last:match.start()], quote=False))
        code, bold, italic, label, url = match.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code, quote=False)}</code>")
        elif bold is not None:
            out.append(f"<b>{inline(bold, links)}</b>")
        elif italic is not None:
            out.append(f"<i>{inline(italic, links)}</i>")
        elif links:
            target = re.sub(r"\.md(#|$)", r".html\1", url)
            out.append(f'<a href="{html.escape(target)}">{inline(label, links)}</a>')
        else:
            out.append(inline(label, links))
        last = match.end()
    out.append(html.escape(text[last:], quote=False))
    return "".join(out)


def to_html(markdown: str, links: bool = True, heading_offset: int = 0) -> str:
    """The subset of Markdown described above as an HTML fragment, without newlines (QGIS
    splits shortHelpString at newlines into paragraphs)."""
    lines = markdown.splitlines()
    out: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    i = 0

    def flush() -> None:
        if paragraph:
            out.append(f"<p>{inline(' '.join(paragraph), links)}</p>")
            paragraph.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{inline(item, links)}</li>" for item in items)
                       + "</ul>")
            items.clear()

    while i < len(lines):
        line = lines[i].rstrip()
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            code = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                code.append(html.escape(lines[i], quote=False))
                i += 1
            out.append('<pre style="white-space: pre-wrap">' + "<br>".join(code) + "</pre>")
        elif stripped.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            i -= 1
            head, body = rows[0], rows[1:]
            out.append("<table><tr>" + "".join(f"<th>{inline(c, links)}</th>" for c in head)
                       + "</tr>" + "".join("<tr>" + "".join(
                           f"<td>{inline(c, links)}</td>" for c in row) + "</tr>"
                           for row in body) + "</table>")
        elif stripped.startswith("#"):
            flush()
            level = min(len(stripped) - len(stripped.lstrip("#")) + heading_offset, 6)
            out.append(f"<h{level}>{inline(stripped.lstrip('#').strip(), links)}</h{level}>")
        elif stripped.startswith("- "):
            if paragraph:
                flush()
            items.append(stripped[2:])
        elif not stripped:
            flush()
        elif items and line.startswith("  "):
            items[-1] += " " + stripped  # continuation of a list item
        else:
            if items:
                flush()
            paragraph.append(stripped)
        i += 1
    flush()
    return "".join(out)


def title_of(tool: str) -> str:
    """The page's first heading, e.g. "Run a model on a raster (`rsai:run_model`)"."""
    first = markdown_of(tool).lstrip().splitlines()[0]
    return first.lstrip("#").strip()


def panel_html(tool: str) -> str:
    """The dialog's side panel: the page without its title (the dialog shows the tool's name),
    headings one level smaller, links as plain text (relative links lead nowhere there)."""
    body = markdown_of(tool).lstrip().split("\n", 1)[1]
    return to_html(body, links=False, heading_offset=1)


def write_pages(folder: Path) -> dict[str, Path]:
    """Every tool's page as a standalone HTML file in ``folder`` (links between pages work)."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = {}
    for source in sorted(DOCS.glob("*.md")):
        title = html.escape(re.sub(r"`", "", title_of(source.stem)))
        page = folder / f"{source.stem}.html"
        page.write_text(
            f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_PAGE_STYLE}</style></head><body>"
            f"{to_html(markdown_of(source.stem))}</body></html>\n", encoding="utf-8")
        pages[source.stem] = page
    return pages
