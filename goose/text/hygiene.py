"""Tell content from page furniture: headings, link lists, citations, licences, doctest
output and navigation, so that none of them becomes a gold span or a passage.

Every check is a few regular expressions over lines, with no model: the functions run on
every unit of every passage. They are tuned to miss real sentences rather than catch every
piece of furniture: a false "junk" verdict costs a candidate span, a missed one costs a task
that teaches nothing, and the shortcut audit (:mod:`goose.audit`) catches what is left.

* :func:`is_heading`: a section heading line (markdown ``#``, a reStructuredText underline,
  numbered, all caps or a short title without closing punctuation).
* :func:`is_boilerplate_heading`: a heading whose section holds no reasoning (References,
  See also, External links, Licence, Navigation, ...): windowing skips its section.
* :func:`junk_reason`: why a unit or paragraph is furniture, or ``None`` for content.

>>> is_boilerplate_heading("== See also ==")
True
>>> junk_reason("Smith, J. (2019). Buffer overflows. Journal of Security 4(2), pp. 1-9. doi:10.1/x")
'citation'
>>> junk_reason("The attacker overwrites the return address, so the function jumps to the payload.") is None
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable

JUNK_REASONS: tuple[str, ...] = ("heading", "link_list", "citation", "licence", "doctest_output", "navigation")
"""Every value :func:`junk_reason` can return besides ``None``."""

_MAX_HEADING_CHARS = 100
_MAX_HEADING_WORDS = 10

# A reStructuredText / setext underline (or overline), or a markdown rule.
_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+_.:])\1{2,}$")
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*$")
# MediaWiki headings: "== See also ==".
_WIKI_HEADING = re.compile(r"^(={2,6})\s*(.*?)\s*\1$")
# "1.", "2.3", "IV.", "A)", "Chapter 3", "Section 2.1:" before a title.
_NUMBERING = re.compile(
    r"^(?:(?:chapter|section|part|appendix|article)\s+)?"
    r"(?:\d+(?:\.\d+)*\.?|[IVXLC]+\.|[A-Za-z][.)])\s*[:.)\-–—]?\s+",
    re.IGNORECASE,
)
_SMALL_WORDS = frozenset(
    "a an and as at but by for from in into of on or the to vs via with without its your our their is are".split()
)
# Characters that put a line in code or formula territory rather than a heading.
_CODE_CHARS = re.compile(r"[=;{}<>\[\]]|\w\(|\)\s*$|^\s*[@$%]|::|->")
_CLOSING_PUNCTUATION = ".!?;,"

_BOILERPLATE_TITLE = re.compile(
    r"^(?:references?|see also|external links?|links|further reading|reading list|bibliography|"
    r"notes?|footnotes?|citations?|sources?|works cited|literature( cited)?|navigation( menu)?|"
    r"(?:table of )?contents|index|licen[cs]es?|licensing|copyrights?|copying|"
    r"acknowledg(?:e)?ments?|credits|authors?|about the authors?|related (?:articles|pages|links|topics|reading)|"
    r"change ?logs?|changes|release notes|version history|history of changes|what'?s new|"
    r"reporting bugs|colophon|sponsors?|downloads?|site map|sitemap|menu|main menu|"
    r"other (?:resources|links)|external resources|online resources|additional resources|"
    r"observed examples|known (?:vulnerabilities|cves)|affected (?:versions|products))$"
)

_CHANGELOG_LINE = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:(?:changed|new|added|deprecated|removed) (?:in|since) version\b|"
    r"\.\. (?:versionchanged|versionadded|deprecated)::|(?:fixme|todo|xxx)\b)",
    re.IGNORECASE,
)
_IDENTIFIER_LINE = re.compile(r"^\s*(?:[-*•]\s*)?(?:CVE|CWE|CAPEC|GHSA|RHSA|DSA|USN|MS\d\d|BID|OSVDB)[-‑]\S+", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|ftp://|www\.)\S+", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•·◦▪‣+]|\d+[.)]|[a-z][.)])\s+")

_LICENCE = re.compile(
    r"all rights reserved|copyright\s*(?:\(c\)|©|\d{4})|©\s*\d{4}|\(c\)\s*\d{4}|licensed under (?:the )?|"
    r"permission is hereby granted|without (?:any )?warrant(?:y|ies)|merchantability|"
    r"free software[;,] you can redistribute|redistributions? (?:and use )?(?:of|in) source|"
    r"spdx-license-identifier|released under the [\w\s.-]{0,40}licen[cs]e|"
    r"is distributed in the hope that it will be useful|terms of the (?:gnu|mit|bsd|apache)|"
    r"creative commons attribution|cc[ -]by(?:-sa)?\s*\d|provided \"as is\"|provided 'as is'",
    re.IGNORECASE,
)

_CITATION_STRONG = re.compile(
    r"\bretrieved(?: on)? (?:\d|[a-z]+ \d)|\bisbn\b|\bissn\b|\bdoi:|doi\.org/|\barxiv:\s*\d|"
    r"archived from the original|\baccessed(?: on)? (?:\d|[a-z]+ \d)|^\s*\[\d+\]\s|^\s*\^\s|^\s*↑",
    re.IGNORECASE,
)
_CITATION_WEAK = (
    re.compile(r"\((?:19|20)\d{2}[a-z]?\)"),  # (2019)
    re.compile(r"\bet al\b\.?"),
    re.compile(r"\bpp?\.\s*\d"),  # pp. 12, p. 4
    re.compile(r"\b[Vv]ol\.\s*\d|\b[Nn]o\.\s*\d|\b\d+\s*\(\d+\)\s*[:,]"),  # Vol. 3, 4(2):
    re.compile(r"\b(?:Journal|Proceedings|Transactions|Conference|Symposium|Press|Publishers?|Review)\b"),
    re.compile(r"\b[A-Z][a-z]+,\s(?:[A-Z]\.\s?){1,3}"),  # Smith, J.
    re.compile(r"\b[Ee]ds?\.|\bIn:\s"),
    _URL,
    re.compile(r"[\"“][^\"”]{8,}[\"”]"),  # a quoted title
)

DOCTEST_PROMPT = re.compile(r"^\s*(?:>>>|\.\.\.)(?:\s|$)")
"""A doctest or interactive-session prompt line (``>>>`` or ``...``)."""
_NOTEBOOK_OUTPUT = re.compile(r"^\s*Out\s*\[\d*\]\s*:")

_NAVIGATION_LINE = re.compile(
    r"^\s*(?:next|previous|prev|up|home|back|top|index|modules|contents|table of contents|"
    r"back to top|go to top|skip to (?:main )?content|jump to (?:navigation|search|content)|"
    r"main menu|navigation|edit this page|view (?:page )?source|show source|"
    r"toggle navigation|search|menu|sign in|log in|print|share|source code)\s*(?:[:»›>|]|$)",
    re.IGNORECASE,
)
_NAVIGATION_PAIR = re.compile(r"\b(?:next|previous|prev|up)\s*(?:topic|page|chapter|section)?\s*:", re.IGNORECASE)
_BREADCRUMB_SEPARATORS = re.compile(r"\s(?:»|›|>|/|\||·|::|→|<)\s")


def _heading_title(line: str) -> str | None:
    """The title of a heading line, without markers and numbering; ``None`` when the line's
    form alone says it is no heading."""
    text = line.strip()
    for pattern, group in ((_MARKDOWN_HEADING, 1), (_WIKI_HEADING, 2)):
        match = pattern.match(text)
        if match:
            return match.group(group).strip()
    text = re.sub(r"\s*\[edit\]$", "", text.strip("*_").strip())  # **Bold heading**, wiki "[edit]" links
    return _NUMBERING.sub("", text, count=1).strip() or None


def is_heading(line: str) -> bool:
    """Whether ``line`` (one line) is a section heading: a markdown ``#`` or MediaWiki
    ``== ==`` heading, a reStructuredText underline, or a short title-like line (at most ten
    words, no closing sentence punctuation, no code characters, starting with a capital or a
    section number) that is all caps, title case, numbered or at most four words long.

    >>> [is_heading(s) for s in ["## Installation", "=======", "3.2 Threat model", "SEE ALSO", "Further Reading"]]
    [True, True, True, True, True]
    >>> [is_heading(s) for s in ["The attacker then reads the session cookie.", "x = compute(a)", "- item one"]]
    [False, False, False]
    """
    text = line.strip()
    if not text or len(text) > _MAX_HEADING_CHARS:
        return False
    if _UNDERLINE.match(text) or (text.endswith("¶") and len(text) > 1):  # Sphinx permalink sign
        return True
    if _MARKDOWN_HEADING.match(text) or _WIKI_HEADING.match(text):
        return bool(_heading_title(text))
    if _BULLET.match(text) and not _NUMBERING.match(text):
        return False
    if DOCTEST_PROMPT.match(text) or _URL.search(text):
        return False
    numbered = bool(re.match(r"^(?:(?:chapter|section|part|appendix)\s+)?\d+(?:\.\d+)*\.?\s+\S", text, re.I))
    title = _heading_title(text)
    if not title:
        return False
    words = title.split()
    if len(words) > _MAX_HEADING_WORDS or title[-1] in _CLOSING_PUNCTUATION or _CODE_CHARS.search(title):
        return False
    if title.endswith(":") and not (len(words) <= 3 and all(w[0].isupper() for w in words if w.rstrip(":").isalpha())):
        return False  # "Sum it:" leads into what follows; "Examples:" and "Return Value:" are headings
    if not (title[0].isupper() or title[0].isdigit()):
        return False
    letters = [c for c in title if c.isalpha()]
    if not letters:
        return False
    if all(c.isupper() for c in letters) and len(letters) >= 2:
        return True
    if numbered or len(words) <= 4:
        return True
    content = [w for w in words if w.lower() not in _SMALL_WORDS and w[0].isalpha()]
    capitalised = sum(w[0].isupper() for w in content)
    return bool(content) and capitalised / len(content) >= 0.75


def is_boilerplate_heading(line: str) -> bool:
    """Whether ``line`` is a heading of a section that holds no reasoning: References, See
    also, External links, Further reading, Bibliography, Notes, Footnotes, Citations,
    Sources, Navigation, (Table of) Contents, Index, Licence, Copyright, Acknowledgements,
    Related articles, Changelog, ... (also combined: "Notes and references"; trailing ``:``
    allowed).

    >>> [is_boilerplate_heading(s) for s in ["# References", "SEE ALSO", "7. Further reading", "Notes and references"]]
    [True, True, True, True]
    >>> [is_boilerplate_heading(s) for s in ["Threat model", "References are resolved lazily by the loader."]]
    [False, False]
    """
    text = re.sub(r"\s*\[edit\]$", "", line.strip()).rstrip(":").strip()
    if not text or not (is_heading(text) or _BOILERPLATE_TITLE.match(text.lower())) or len(text.split()) > 6:
        return False
    title = (_heading_title(text) or "").rstrip(":").strip().lower()
    parts = [p.strip() for p in re.split(r"\s+(?:and|&)\s+|\s*,\s*|\s*/\s*", title) if p.strip()]
    return bool(parts) and all(_BOILERPLATE_TITLE.match(part) for part in parts)


def _at_least(flags: Iterable[bool], count: int) -> bool:
    """Whether at least ``count`` of ``flags`` are true; stops reading them once that is known
    (the checks behind the flags are regular expressions, run on every unit of a corpus)."""
    if count <= 0:
        return True
    for flag in flags:
        if flag:
            count -= 1
            if count == 0:
                return True
    return False


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _is_citation_line(line: str) -> bool:
    if _CITATION_STRONG.search(line):
        return True
    # A sentence that cites in passing ("Smith et al. (2019) showed that ...") is mostly
    # lowercase words; a reference entry is mostly names, titles and numbers.
    words = line.split()
    prose = sum(1 for w in words if w.isalpha() and w.islower()) >= 0.5 * len(words)
    return _at_least((pattern.search(line) is not None for pattern in _CITATION_WEAK), 2 + prose + (len(words) > 30))


def _is_navigation_line(line: str) -> bool:
    if _NAVIGATION_LINE.match(line) and len(line.split()) <= 8:
        return True
    if len(_NAVIGATION_PAIR.findall(line)) >= 2:
        return True
    pieces = [p for p in re.split(r"\s(?:»|›|>|/|\||·|::|→|<)\s", line) if p.strip()]
    return (
        len(_BREADCRUMB_SEPARATORS.findall(line)) >= 2
        and len(pieces) >= 3
        and all(len(p.split()) <= 4 for p in pieces)
        and line[-1] not in _CLOSING_PUNCTUATION
    )


def _is_link_item(line: str) -> bool:
    """A bullet whose body is a link or a short title; or a line that is mostly a URL."""
    urls = "".join(_URL.findall(line))
    if urls and len(urls) >= 0.4 * len(line):
        return True
    bullet = _BULLET.match(line)
    if not bullet:
        return False
    body = line[bullet.end() :].strip()
    if _URL.search(body):
        return True
    return len(body.split()) <= 6 and bool(body) and body[-1] not in _CLOSING_PUNCTUATION + ":" and not re.search(
        r"[=+*/^<>]", body
    )


def _doctest_share(lines: list[str]) -> tuple[int, int]:
    """(prompt lines, output lines) of a doctest session: output lines follow a prompt."""
    prompts = outputs = 0
    in_session = False
    for line in lines:
        if DOCTEST_PROMPT.match(line):
            prompts += 1
            in_session = True
        elif _NOTEBOOK_OUTPUT.match(line):
            outputs += 1
        elif in_session:
            outputs += 1
    return prompts, outputs


def junk_reason(text: str) -> str | None:
    """Why ``text`` (a unit or a paragraph) is page furniture rather than content, or
    ``None`` for content. Reasons, checked in this order:

    * ``navigation``: menus, breadcrumbs ("Home » Docs » ssl"), "Next: / Previous: / Up:"
      lines, "Back to top";
    * ``licence``: copyright and licence boilerplate ("All rights reserved", "Licensed under
      the", "Permission is hereby granted", "WITHOUT ANY WARRANTY");
    * ``citation``: reference entries (a "Retrieved ..."/ISBN/doi line, a "[3]" or "^" entry
      start, or two signs of a reference: "(2019)", "et al.", "pp. 4", "Vol. 3", "Journal",
      "Smith, J.", a URL, a quoted title) on at least half of the lines;
    * ``doctest_output``: a doctest session (``>>>`` prompts and the output lines after them)
      makes up at least half of the lines, or the text is an ``Out[3]:`` notebook output;
    * ``link_list``: most lines are bullets of links or short titles, or the text is
      mostly URLs;
    * ``changelog``: version notes ("Changed in version 3.8: ...", "New in version",
      "Deprecated since version") and work notes ("FIXME", "TODO", "XXX") on at least half
      of the lines;
    * ``identifier_list``: most lines start with an identifier such as ``CVE-2021-1234``
      (lists of advisories or known issues: facts to look up, not reasoning);
    * ``heading``: every line is a heading (or an underline).

    >>> junk_reason("## See also")
    'heading'
    >>> junk_reason("- Buffer overflow\\n- Heap spraying\\n- https://cwe.mitre.org/data/definitions/120.html")
    'link_list'
    >>> junk_reason("Copyright (c) 2001-2024 Python Software Foundation. All rights reserved.")
    'licence'
    >>> junk_reason(">>> factorial(5)\\n120")
    'doctest_output'
    >>> junk_reason("Home » Library » ssl » SSLContext")
    'navigation'
    >>> junk_reason("Since 5! = 120, the product has 3 trailing zeros.") is None
    True
    >>> junk_reason("Changed in version 3.8: Added the mtime parameter."), junk_reason("CVE-2021-1234: a crafted request.")
    ('changelog', 'identifier_list')
    """
    lines = _lines(text)
    if not lines:
        return None
    half = (len(lines) + 1) // 2
    if _at_least(map(_is_navigation_line, lines), half):
        return "navigation"
    if _LICENCE.search(text):
        return "licence"
    if _at_least(map(_is_citation_line, lines), half):
        return "citation"
    prompts, outputs = _doctest_share(lines)
    if (prompts and outputs and prompts + outputs >= half) or (_NOTEBOOK_OUTPUT.match(lines[0]) and not prompts):
        return "doctest_output"
    if (len(lines) > 1 or _URL.search(text)) and _at_least(map(_is_link_item, lines), max(half, 1)):
        return "link_list"
    if len(lines) == 1 and _BULLET.match(lines[0]) and _is_link_item(lines[0]):
        return "link_list"
    if _at_least((_CHANGELOG_LINE.match(line) is not None for line in lines), half):
        return "changelog"
    if _at_least((_IDENTIFIER_LINE.match(line) is not None for line in lines), half):
        return "identifier_list"
    if all(is_heading(line) for line in lines):
        return "heading"
    return None
