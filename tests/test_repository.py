"""The repository stands on its own: no path out of the checkout, and every relative doc link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])
LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = ("http://", "https://", "mailto:", "ftp://")


def text_files(*roots: Path) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        files += [p for p in candidates if "__pycache__" not in p.parts and p.suffix != ".pyc"]
    return files


def test_nothing_points_outside_the_checkout():
    # The project is developed beside a ../shared folder; nothing shipped may depend on it.
    hits = []
    for path in text_files(REPO / "README.md", REPO / "docs", REPO / "vimix_ssl"):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if "../shared" in line:
                hits.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not hits, "references to ../shared:\n" + "\n".join(hits)


def strip_code(markdown: str) -> str:
    """Markdown without fenced code blocks and inline code spans (links there are not links)."""
    markdown = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", markdown, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", markdown, flags=re.DOTALL)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces -> hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in strip_code(path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            out.add(base if count == 0 else f"{base}-{count}")
    return out


def relative_links(path: Path) -> list[str]:
    text = strip_code(path.read_text(encoding="utf-8"))
    targets = LINK.findall(text) + IMAGE.findall(text)
    return [t for t in targets if not t.lower().startswith(EXTERNAL)]


def test_the_link_checker_sees_links_and_skips_code():
    sample = "see [a](docs/A.md#x-y) and ![i](img.png) `[no](code.md)`\n```\n[no](block.md)\n```\n[w](https://x.org)"
    found = LINK.findall(strip_code(sample)) + IMAGE.findall(strip_code(sample))
    assert sorted(found) == ["docs/A.md#x-y", "https://x.org", "img.png"]
    assert slug("2. Quantisation (the peers' format)") == "2-quantisation-the-peers-format"
    assert slug("Concept → file") == "concept--file"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(doc):
    broken = []
    for target in relative_links(doc):
        location, _, anchor = target.partition("#")
        file = (doc.parent / location).resolve() if location else doc
        if not file.exists() or REPO not in (file, *file.parents):
            broken.append(f"{target}: {file} is not a file or folder of the repository")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading with anchor #{anchor} in {file.relative_to(REPO)}")
    assert not broken, f"{doc.relative_to(REPO)}:\n" + "\n".join(broken)


def test_the_docs_are_linked_from_the_readme():
    linked = {(REPO / t.partition("#")[0]).resolve() for t in relative_links(REPO / "README.md")}
    unlinked = [p.name for p in DOCS[1:] if p.suffix == ".md" and p.resolve() not in linked]
    assert not unlinked, f"docs not linked from README.md: {unlinked}"
