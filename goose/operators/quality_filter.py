"""QualityFilter: cheap checks that drop unusable documents before any LLM call is paid for.

Input columns: ``text``; optional ``domain``.
Output columns: ``text`` (Unicode-normalised), and ``domain`` when ``domain_keywords`` is set
(rows whose domain is empty or ``general`` get the domain whose keywords they hit most).
Checks run in this order; a row is dropped with the first reason that applies:

* ``missing_text``: no value, or the column is not text;
* ``empty_text``: nothing but whitespace after normalisation;
* ``too_short_words`` / ``too_long_words``: whitespace word count outside ``[min_words, max_words]``;
* ``binary_text``: share of characters that no text holds (control characters other than tab
  and line ends, private-use characters, U+FFFD replacement characters) above
  ``max_binary_ratio`` (default 0.01): bytes decoded as Latin-1 or a broken encoding, whose
  letters would otherwise pass the symbol check;
* ``symbol_ratio``: share of non-space characters that are neither letters, digits nor ``_``
  above ``max_symbol_ratio`` (default 0.6: dense LaTeX and C reach 0.5, so only text that is
  mostly punctuation, rules or separators goes);
* ``repeated_lines``: share of lines (of at least ``min_repeated_line_chars`` characters) that
  repeat an earlier line above ``max_repeated_line_ratio`` (menus, footers, spam);
* ``language``: the detector (py3langid, model shipped in the wheel) is at least
  ``min_language_confidence`` sure the text is in a language outside ``languages``; less
  certain detections (bare code, formulas) are kept;
* ``no_domain_match``: ``require_domain`` is set and no domain keyword matched a row that had
  no domain of its own.

Keyword routing counts whole-word hits of a domain's keywords, inflections included
(``keyword_inflections``: ``attack`` also counts attacks, attacked, attacker;
``vulnerability`` counts vulnerabilities; see :func:`goose.text.security_terms.term_pattern`).
A domain needs ``min_keyword_hits`` hits and, when ``min_keyword_density`` is set, that
many hits per 1,000 words: three passing mentions of "attack" in a 10,000-word history
article do not make it a security page.

>>> from goose import Pipeline
>>> rows = [{"text": "Water boils at 100 °C at sea level. " * 3}, {"text": "Das Wasser kocht bei hundert Grad. " * 3}]
>>> Pipeline([QualityFilter(min_words=5)]).run(rows).tasks.num_rows
1
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from py3langid.langid import MODEL_FILE, LanguageIdentifier
from pydantic import Field, PrivateAttr, field_validator, model_validator

from goose.pipeline.operator import BatchResult, Operator, RowOutcomes, RunContext
from goose.text.security_terms import keyword_pattern

# Compatibility decompositions that change meaning in math text: x² must not become x2, nor ½ become 1⁄2.
_MATH_MARK_TAGS = ("<super>", "<sub>", "<fraction>")
# RE2 syntax (Arrow compute): a character that is not a letter, digit, combining mark, underscore or space.
_SYMBOL = r"[^\p{L}\p{N}\p{M}_\s]"
# RE2: a control character other than tab, line feed and carriage return; a private-use character; U+FFFD.
_BINARY = r"[^\t\n\r\P{Cc}]|[\p{Co}\x{FFFD}]"
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")


def normalize_unicode(text: str, form: str = "NFKC", keep_math_marks: bool = True) -> str:
    """Normalise ``text`` to Unicode ``form``; with ``keep_math_marks`` NFKC leaves super- and
    subscripts and vulgar fractions alone (folding them would change ``x²`` into ``x2``).

    >>> normalize_unicode("ﬁnd x² ＝ ½ in 10\\u00a0ms")
    'find x² = ½ in 10 ms'
    >>> normalize_unicode("x²", keep_math_marks=False)
    'x2'
    """
    if form == "none" or unicodedata.is_normalized(form, text):  # type: ignore[arg-type]
        return text
    if form != "NFKC" or not keep_math_marks:
        return unicodedata.normalize(form, text)  # type: ignore[arg-type]
    pieces: list[str] = []
    start = 0
    for index, char in enumerate(text):
        if ord(char) >= 0xA0 and unicodedata.decomposition(char).startswith(_MATH_MARK_TAGS):
            pieces.append(unicodedata.normalize("NFKC", text[start:index]))
            pieces.append(char)
            start = index + 1
    pieces.append(unicodedata.normalize("NFKC", text[start:]))
    return "".join(pieces)


def repeated_line_counts(texts: pa.Array, min_chars: int) -> tuple[np.ndarray, np.ndarray]:
    """Per text: how many of its lines (stripped, at least ``min_chars`` long) there are, and
    how many of them repeat an earlier line of the same text. Vectorised with Arrow.

    >>> lines, repeats = repeated_line_counts(pa.array(["home page\\nhome page\\nreal text", None]), 3)
    >>> lines.tolist(), repeats.tolist()
    ([3, 0], [1, 0])
    """
    size = len(texts)
    split = pc.split_pattern(texts, "\n")
    rows = pc.list_parent_indices(split)
    lines = pc.utf8_trim_whitespace(pc.list_flatten(split))
    table = pa.table({"row": rows, "line": lines}).filter(pc.greater_equal(pc.utf8_length(lines), min_chars))
    counted = np.bincount(table.column("row").to_numpy(), minlength=size)
    distinct = table.group_by(["row", "line"]).aggregate([]).column("row").to_numpy()
    return counted, counted - np.bincount(distinct, minlength=size)


class QualityFilter(Operator):
    """Drop documents that are too short, too long, mostly symbols, repetitive or in the wrong
    language, and route domain-less documents to a domain by keywords; no LLM involved."""

    requires: ClassVar[tuple[str, ...]] = ("text",)
    produces: ClassVar[tuple[str, ...]] = ("text",)

    unicode_form: Literal["NFKC", "NFC", "none"] = Field(
        "NFKC", description="Unicode normalisation of the output text (PrepareText only does NFC)."
    )
    keep_math_marks: bool = Field(True, description="Under NFKC, keep super/subscripts and vulgar fractions.")
    min_words: int = Field(50, ge=0, description="Fewer whitespace-separated words: too_short_words.")
    max_words: int = Field(50_000, ge=1, description="More words: too_long_words.")
    max_binary_ratio: float = Field(
        0.01, ge=0, le=1, description="Higher share of control/private-use/replacement characters: binary_text."
    )
    max_symbol_ratio: float = Field(0.6, gt=0, le=1, description="Higher share of symbol characters: symbol_ratio.")
    max_repeated_line_ratio: float = Field(0.3, gt=0, le=1, description="Higher share of repeats: repeated_lines.")
    min_repeated_line_chars: int = Field(
        20, ge=1, description="Shorter lines ('return total', braces) are not counted: code repeats them legitimately."
    )
    languages: list[str] | None = Field(
        default_factory=lambda: ["en"], description="ISO 639-1 codes to keep; None or [] turns the check off."
    )
    min_language_confidence: float = Field(
        0.5, ge=0, le=1, description="Drop only when the detector is at least this sure of another language."
    )
    language_sample_chars: int = Field(5_000, ge=100, description="Characters of each text given to the detector.")
    domain_keywords: dict[str, list[str]] = Field(
        default_factory=dict, description="Domain name -> keywords; routes rows whose domain is empty or 'general'."
    )
    min_keyword_hits: int = Field(1, ge=1, description="Keyword hits a domain needs before a row is routed to it.")
    min_keyword_density: float = Field(
        0.0, ge=0, description="Keyword hits per 1,000 words a domain also needs (0: no density check)."
    )
    keyword_inflections: bool = Field(
        True, description="Keywords also match their inflections (plural, -ed, -ing, -er); False: exact words only."
    )
    require_domain: bool = Field(False, description="Drop rows with neither a domain of their own nor a keyword match.")

    _identifier: Any = PrivateAttr(default=None)

    @field_validator("languages")
    @classmethod
    def _check_languages(cls, value: list[str] | None) -> list[str] | None:
        for code in value or []:
            if not _LANGUAGE_CODE.match(code):
                raise ValueError(f"language {code!r} is not a lowercase ISO 639 code such as 'en'")
        return value

    @model_validator(mode="after")
    def _check_bounds(self) -> QualityFilter:
        if self.min_words > self.max_words:
            raise ValueError(f"min_words ({self.min_words}) is above max_words ({self.max_words})")
        if self.require_domain and not self.domain_keywords:
            raise ValueError("require_domain needs domain_keywords to route rows with")
        return self

    def produced_columns(self) -> tuple[str, ...]:
        return ("text", "domain") if self.domain_keywords else ("text",)

    def process(self, batch: pa.Table, context: RunContext) -> BatchResult:
        routing = bool(self.domain_keywords)
        types = {"text": pa.string(), **({"domain": pa.string()} if routing else {})}
        outcomes = RowOutcomes(batch, types=types)
        raw = batch.column("text")
        values = raw.to_pylist() if pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type) else None
        if values is None:  # a null-typed column (all None) or numbers: nothing to check
            for index in range(batch.num_rows):
                outcomes.drop(index, "missing_text", f"column 'text' holds {raw.type}, not strings")
            return outcomes.result()
        texts = [None if t is None else normalize_unicode(t, self.unicode_form, self.keep_math_marks) for t in values]
        array = pa.array(texts, type=pa.string())
        words = _counts(pc.count_substring_regex(array, r"\S+"))
        non_space = _counts(pc.count_substring_regex(array, r"\S"))
        symbols = _counts(pc.count_substring_regex(array, _SYMBOL))
        symbol_ratio = symbols / np.maximum(non_space, 1)
        binary_ratio = _counts(pc.count_substring_regex(array, _BINARY)) / np.maximum(_counts(pc.utf8_length(array)), 1)
        lines, repeats = repeated_line_counts(array, self.min_repeated_line_chars)
        repeat_ratio = repeats / np.maximum(lines, 1)
        domains = self._route(batch, array, words) if routing else None
        for index, text in enumerate(texts):
            reason = self._first_failure(index, text, words, symbol_ratio, repeat_ratio, lines, repeats, binary_ratio)
            if reason is None and domains is not None and domains[index] is None:
                keys = sorted(self.domain_keywords)
                reason = ("no_domain_match", f"no keyword of {keys} found {self.min_keyword_hits}+ times")
            if reason is not None:
                outcomes.drop(index, *reason)
            elif domains is not None:
                outcomes.keep(index, text=text, domain=domains[index])
            else:
                outcomes.keep(index, text=text)
        return outcomes.result()

    def _first_failure(
        self,
        index: int,
        text: str | None,
        words: np.ndarray,
        symbol_ratio: np.ndarray,
        repeat_ratio: np.ndarray,
        lines: np.ndarray,
        repeats: np.ndarray,
        binary_ratio: np.ndarray,
    ) -> tuple[str, str] | None:
        if text is None:
            return "missing_text", "no value in column 'text'"
        if words[index] == 0:
            return "empty_text", "nothing but whitespace"
        if words[index] < self.min_words:
            return "too_short_words", f"{words[index]} words, min_words is {self.min_words}"
        if words[index] > self.max_words:
            return "too_long_words", f"{words[index]} words, max_words is {self.max_words}"
        if binary_ratio[index] > self.max_binary_ratio:
            return "binary_text", (
                f"{binary_ratio[index]:.2f} of characters are control, private-use or replacement characters, "
                f"max_binary_ratio is {self.max_binary_ratio}"
            )
        if symbol_ratio[index] > self.max_symbol_ratio:
            return "symbol_ratio", (
                f"{symbol_ratio[index]:.2f} of non-space characters are symbols, "
                f"max_symbol_ratio is {self.max_symbol_ratio}"
            )
        if repeat_ratio[index] > self.max_repeated_line_ratio:
            return "repeated_lines", (
                f"{repeats[index]} of {lines[index]} lines repeat an earlier line ({repeat_ratio[index]:.2f}), "
                f"max_repeated_line_ratio is {self.max_repeated_line_ratio}"
            )
        if self.languages:
            language, confidence = self._language_identifier().classify(text[: self.language_sample_chars])
            if language not in self.languages and confidence >= self.min_language_confidence:
                allowed = ", ".join(self.languages)
                return "language", f"detected {language} (confidence {confidence:.2f}); allowed: {allowed}"
        return None

    def _language_identifier(self) -> LanguageIdentifier:
        # Loading the shipped model takes most of a second: once per operator, on first use.
        if self._identifier is None:
            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            unknown = sorted(set(self.languages or ()) - set(identifier.labels))
            if unknown:
                raise ValueError(f"py3langid does not know language(s) {unknown}")
            self._identifier = identifier
        return self._identifier

    def _route(self, batch: pa.Table, texts: pa.Array, words: np.ndarray) -> list[str | None]:
        """Each row's domain: its own unless empty or 'general', else the best keyword match
        (ties go to the domain named first) when it has ``min_keyword_hits`` hits and
        ``min_keyword_density`` hits per 1,000 words, else its own value (None when nothing
        matched)."""
        own = batch.column("domain").to_pylist() if "domain" in batch.column_names else [None] * batch.num_rows
        lowered = pc.utf8_lower(texts)
        patterns_by_name = {
            name: keyword_pattern(keywords, self.keyword_inflections) for name, keywords in self.domain_keywords.items()
        }
        names = [name for name, pattern in patterns_by_name.items() if pattern]
        if names:
            patterns = [patterns_by_name[name] for name in names]
            hits = np.stack([_counts(pc.count_substring_regex(lowered, pattern)) for pattern in patterns])
            best = hits.argmax(axis=0)
            best_hits = hits[best, np.arange(len(own))]
        else:
            best = best_hits = np.zeros(len(own), dtype=np.int64)
        dense = 1000 * best_hits >= self.min_keyword_density * np.maximum(words, 1)
        routed: list[str | None] = []
        for index, domain in enumerate(own):
            if domain and str(domain).lower() != "general":
                routed.append(str(domain))
            elif names and best_hits[index] >= self.min_keyword_hits and dense[index]:
                routed.append(names[best[index]])
            else:
                routed.append(None if self.require_domain else (domain or "general"))
        return routed


def _counts(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(array, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
