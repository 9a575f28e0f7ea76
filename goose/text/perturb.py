"""Wrong-but-plausible variants of a gold span that stay well-formed.

Every edit keeps the text readable as the kind of text it is:

* **numbers** (prose): arithmetic statements of the gold (``3 * 4 = 12``, ``$12 / 3 = $4``,
  ``x = 8 / 2 = 4``, ``<<48/2=24>>``) are parsed and checked; when an input number changes,
  the results are recomputed and carried to every later use, so the variant is internally
  consistent yet wrong. Two different numbers never end up equal ("divisible by 2 but not
  by 2"), 0 and 1 are never changed as inputs ("by 1"), years and numbers with a leading
  zero are left alone, and formatting (thousands commas, decimals, currency, %) is kept.
* **operators**: in prose, an operator of a calculation (results recomputed) or an
  inequality in math text; in code (``kind="line"``), ``<``/``<=``/``>``/``>=``,
  ``==``/``!=``, ``and``/``or``, binary ``+``/``-``, ``min``/``max``, ``True``/``False``,
  ``is None``/``is not None`` and ``in``/``not in`` on code tokens only (never inside a
  string or a comment, never a capitalised identifier).
* **indices** (code): off-by-one on subscripts, slices and ``range`` bounds.
* **negation**: ``is``/``is not``, ``cannot``/``can`` (prose, never at a sentence start or
  before a pronoun); adding or removing ``not`` in a code condition.
* **words** (prose): antonym pairs that keep the grammar; arithmetic words (``sum``/
  ``product``, ``even``/``odd``) only where the gold calculates.
* **terms**: a content word or technical term of the gold that the document's
  ``vocabulary`` holds is swapped with another of its terms of the same shape
  (capitalisation, plural, suffix class, length), never a stop word. In code, identifiers.

Each code variant must still parse (:func:`goose.text.code_fragment.parse_fragment`) when
the gold does, or keep the gold's bracket structure when it does not. The gold is analysed
once per call; an attempt only picks edit sites and splices strings. Each variant differs
from the gold and from the other variants enough not to count as a near-duplicate option
(see :data:`goose.options.NEAR_DUPLICATE_SIMILARITY`): edits are added one at a time until
it does, so variants change as little as they must.

>>> import numpy as np
>>> variants = perturbations("So 3 * 4 = 12 apples, and 12 + 5 = 17 in all.", np.random.default_rng(0))
>>> all(text != "So 3 * 4 = 12 apples, and 12 + 5 = 17 in all." for text, kind in variants)
True
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np
from rapidfuzz import fuzz

from goose.options import NEAR_DUPLICATE_SIMILARITY, normalize_for_comparison
from goose.text.code_fragment import PYTHON_KEYWORDS, bracket_signature, code_tokens, parse_fragment, parse_python
from goose.text.equivalence import canonical_code

SpanKind = Literal["sentence", "line"]
_MAX_FAILURES = 8
"""Attempts in a row that may fail before :func:`perturbations` gives up on a gold."""

MAX_SIMILARITY = NEAR_DUPLICATE_SIMILARITY - 3.0
"""A variant must be at most this similar to the gold (0-100), a margin under the near-duplicate line."""

# --- word lists --------------------------------------------------------------------------------
_STOP_WORDS = frozenset(
    """a about above after again against all almost also although always am among an and another any anyone
    anything are around as at back be became because become been before being below between both but by can
    cannot could did do does doing done down during each either else enough even ever every few first for from
    further get gets given gives go goes had has have having he her here hers herself him himself his how however
    i if in into is it its itself just last least less made make makes many may me might more most much must my
    myself neither never next no none nor not now of off often on once one only onto or other others otherwise
    our ours ourselves out over own per perhaps quite rather really same see seem seems several shall she should
    show shown since so some something sometimes still such than that the their theirs them themselves then there
    therefore these they this those though through thus to together too toward towards under unless until up upon
    us use used uses using very via was we well were what whatever when where whether which while who whole whom
    whose why will with within without would yet you your yours yourself yourselves example thing things way ways
    part case called means need needs value values number numbers first second third also already""".split()
)
_PAIRS = [
    ("increase", "decrease"), ("increases", "decreases"), ("increased", "decreased"), ("increasing", "decreasing"),
    ("more", "less"), ("larger", "smaller"), ("higher", "lower"), ("greater", "less"), ("before", "after"),
    ("maximum", "minimum"), ("positive", "negative"), ("always", "never"), ("allow", "block"), ("allows", "blocks"),
    ("allowed", "blocked"), ("encrypt", "decrypt"), ("encrypted", "decrypted"), ("encryption", "decryption"),
    ("inbound", "outbound"), ("public", "private"), ("first", "last"), ("faster", "slower"),
    ("stronger", "weaker"), ("true", "false"), ("valid", "invalid"), ("safe", "unsafe"), ("client", "server"),
    ("clients", "servers"), ("above", "below"), ("absorbs", "releases"), ("exothermic", "endothermic"),
    ("oxidation", "reduction"), ("gains", "loses"), ("rises", "falls"), ("inside", "outside"),
    ("horizontal", "vertical"), ("strong", "weak"), ("slowly", "quickly"), ("trusted", "untrusted"),
    ("accept", "reject"), ("accepts", "rejects"), ("accepted", "rejected"), ("include", "exclude"),
    ("includes", "excludes"), ("enable", "disable"), ("enabled", "disabled"), ("enables", "disables"),
    ("input", "output"), ("success", "failure"), ("most", "least"), ("many", "few"), ("upper", "lower"),
    ("minimum", "maximum"), ("smallest", "largest"), ("earlier", "later"), ("sender", "receiver"),
    ("read", "write"), ("reads", "writes"), ("sum", "product"), ("numerator", "denominator"),
    ("multiply", "divide"), ("multiplying", "dividing"), ("multiplied", "divided"), ("even", "odd"),
    ("adding", "subtracting"), ("added", "subtracted"), ("plus", "minus"), ("clockwise", "counterclockwise"),
]
_WORD_SWAPS: dict[str, str] = {}
for _a, _b in _PAIRS:
    _WORD_SWAPS.setdefault(_a, _b)
    _WORD_SWAPS.setdefault(_b, _a)
_ARITHMETIC_WORDS = frozenset(
    {"sum", "product", "numerator", "denominator", "multiply", "divide", "multiplying", "dividing", "multiplied",
     "divided", "even", "odd", "adding", "subtracting", "added", "subtracted", "plus", "minus"}
)
_PARITY_NOUNS = frozenset({"number", "numbers", "integer", "integers", "function", "functions", "power", "powers",
                           "divisor", "divisors", "digit", "digits", "multiple", "multiples", "length", "degree"})
_BOUND_NOUNS = frozenset({"bound", "bounds", "limit", "limits", "case", "half", "triangular", "left", "right", "end"})
_DETERMINERS = frozenset(
    "the a an this that these those each every its their our your his her my of for with by from any some no "
    "another other such which whose".split()
)
_PRONOUNS = frozenset("not it he she they we you i there this that also so n't never always".split())
_NOUN_SUFFIXES = ("tion", "sion", "ment", "ness", "ity", "ance", "ence", "ism", "ist", "ure", "age", "ship", "logy",
                  "er", "or", "ant", "ent")
_ADJECTIVE_SUFFIXES = ("able", "ible", "ous", "ive", "al", "ic", "ful", "less", "ary")
_ADJECTIVE_ENDINGS = ("ed", "al", "ic", "ous", "ive", "able", "ible", "ful", "less", "ent", "ant", "ary", "ing")
_SUFFIX_CLASSES = _NOUN_SUFFIXES[:12] + ("ing", "ed") + _NOUN_SUFFIXES[12:] + _ADJECTIVE_SUFFIXES
_SUFFIX = re.compile("(?:" + "|".join(sorted(_SUFFIX_CLASSES, key=len, reverse=True)) + ")$")

# --- patterns ----------------------------------------------------------------------------------
_WORD_TOKEN = re.compile(r"[A-Za-z]+(?:['’][a-z]+)?")
_NEGATED = re.compile(
    r"\b(?:(cannot|can not)|(is|are|was|were|will|should|must|does|do|did|would|could|may|might|has|have|had) not"
    r"|(isn't|aren't|wasn't|weren't|can't|won't|doesn't|don't|didn't|shouldn't|couldn't|wouldn't))\b"
)
_CONTRACTION = {"isn't": "is", "aren't": "are", "wasn't": "was", "weren't": "were", "can't": "can", "won't": "will",
                "doesn't": "does", "don't": "do", "didn't": "did", "shouldn't": "should", "couldn't": "could",
                "wouldn't": "would"}
_NEGATABLE = re.compile(r"\b(is|are|was|were|will|should|must|can|could|would|may|might) (?=([a-z']+))")
_INEQUALITY = re.compile(r"(?<=\s)(<=|>=|<|>)(?=\s)|≤|≥|\\le(?:q)?(?![a-z])|\\ge(?:q)?(?![a-z])|\\lt\b|\\gt\b")
_INEQUALITY_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "≤": "≥", "≥": "≤", "\\le": "\\ge", "\\ge": "\\le",
                    "\\leq": "\\geq", "\\geq": "\\leq", "\\lt": "\\gt", "\\gt": "\\lt"}
_MATH_CONTEXT = re.compile(r"\d\s*(?:[-+*/×÷^=]|\\times|\\cdot|\\div)\s*\(?\s*\d|[=<>≤≥]|\\frac|\\sum|\\sqrt|\bequations?\b")
_NUMBER = re.compile(r"(?<![\w.,\\])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\d_]|[.,]\d|[A-Za-z]{2})")
_PERCENT = re.compile(r"\s?%")
_OPERATOR_GAP = re.compile(
    r"(?P<close>[\s)]*)(?P<op>\*\*|[-+*/×÷·^−]|\\times|\\cdot|\\div|(?<=\s)x(?=\s))(?P<open>[\s(]*)(?:[$€£]\s?)?"
)
_EQUALS_GAP = re.compile(r"(?P<close>[\s)]*)=\s*(?:[$€£]\s?)?")
_OPERATORS = {"+": "+", "-": "-", "−": "-", "*": "*", "·": "*", "×": "*", "x": "*", "\\times": "*", "\\cdot": "*",
              "/": "/", "÷": "/", "\\div": "/", "^": "**", "**": "**"}
_OPERATOR_FLIP = {"+": "-", "-": "+", "−": "+", "*": "/", "/": "*", "×": "÷", "÷": "×", "·": "/",
                  "\\times": "\\div", "\\div": "\\times", "\\cdot": "/"}
_PYTHON_HINT = re.compile(r"^\s*(?:def|elif|import|from|class|for .* in .*:)\b|\bNone\b|\bself\.|:\s*$", re.M)
_BUILTINS = frozenset(dir(builtins)) | PYTHON_KEYWORDS | {"self", "cls", "true", "false", "null", "this", "var", "let",
                                                         "const", "function", "return", "new"}


_KEEP_TOKEN = re.compile(r"[^\W_]+")


def keep_words(text: str) -> set[str]:
    """The lower-cased words and numbers of ``text``, as ``perturbations(..., keep=...)``
    compares them: pass the passage around the gold to keep its givens unchanged.

    >>> sorted(keep_words("Adult tickets cost $12; 80 were sold."))
    ['12', '80', 'adult', 'cost', 'sold', 'tickets', 'were']
    """
    return set(_KEEP_TOKEN.findall(text.lower()))


@dataclass(frozen=True)
class _Site:
    """One place an edit may change: ``gold[start:end]`` becomes one of ``options``."""

    start: int
    end: int
    options: tuple[str, ...]


# --- shapes of terms ---------------------------------------------------------------------------
def _case(word: str) -> str | None:
    if word.islower():
        return "lower"
    if word.isupper():
        return "upper" if len(word) > 1 else None
    if word[0].isupper() and word[1:].islower():
        return "title"
    return "mixed"


def _word_shape(word: str) -> tuple[str, bool, str] | None:
    """(case, plural, part of speech guessed from the suffix) of a prose term; ``None`` for
    stop words, short words and adverbs, which a swap would turn into nonsense. A word
    without a telling suffix counts as a noun: terms are taken where nouns stand."""
    lower = word.lower()
    if len(word) < 4 or lower in _STOP_WORDS or lower.endswith("ly") or not word.isalpha():
        return None
    case = _case(word)
    if case is None:
        return None
    plural = lower.endswith("s") and not lower.endswith(("ss", "us", "is", "ous"))
    stem = lower[:-1] if plural else lower
    found = _SUFFIX.search(stem)
    suffix = found.group() if found and found.start() > 2 else ""
    part = "noun" if suffix in _NOUN_SUFFIXES or not suffix else "adjective" if suffix in _ADJECTIVE_SUFFIXES else suffix
    return case, plural, part


def _identifier_shape(name: str) -> tuple[bool, bool, str | None, int] | None:
    if name in _BUILTINS or len(name) < 2 or not re.fullmatch(r"[A-Za-z_]\w*", name):
        return None
    return "_" in name.strip("_"), bool(re.search(r"[a-z][A-Z]", name)), _case(name.replace("_", "") or "x"), min(len(name) // 4, 3)


@dataclass(frozen=True)
class _Word:
    """A word of a text with what a swap must know about its place."""

    start: int
    end: int
    text: str
    sentence_start: bool
    glued: bool  # part of a dotted name, path, markup or hyphenated compound
    head_noun: bool  # ends a noun phrase opened by a determiner: "the [crafted] packet."
    in_name: bool  # next to another capitalised word: part of a longer name ("Ottoman Empire")


_GLUE_BEFORE = frozenset("._:`/\\-$@#*'\"=<>[{|~^0123456789")
_GLUE_AFTER = frozenset("_`(/\\-@#*'\"=<>[{|~^0123456789")


def _heads(text: str, matches: list[re.Match[str]], lowers: list[str], strict: bool = False) -> set[int]:
    """Indices of the head nouns of noun phrases opened by a determiner: the last content
    word before a stop word or punctuation ("the crafted *packet* to"), or the one before
    it when the last looks like a verb ("the *attacker* sends a"). ``strict`` keeps only
    heads right after the determiner or with a noun suffix (fewer adjectives taken for nouns)."""
    heads = set()
    for i, lower in enumerate(lowers):
        if lower not in _DETERMINERS:
            continue
        phrase = []
        for k in range(i + 1, min(i + 5, len(lowers))):
            if text[matches[k - 1].end() : matches[k].start()].strip(" ") or lowers[k] in _STOP_WORDS:
                break
            phrase.append(k)
        if not phrase:
            continue
        last = phrase[-1]
        verb_like = lowers[last].endswith(("s", "ed")) and not lowers[last].endswith("ss")
        if len(phrase) > 1 and verb_like and not lowers[phrase[-2]].endswith("s"):
            last = phrase[-2]
        modifiers_look_adjectival = all(
            lowers[k].endswith(_ADJECTIVE_ENDINGS) or matches[k].group()[0].isupper() for k in phrase if k < last
        )
        if not strict or modifiers_look_adjectival or lowers[last].rstrip("s").endswith(_NOUN_SUFFIXES[:12]):
            heads.add(last)
    return heads


def _words(text: str, strict: bool = False) -> list[_Word]:
    matches = list(_WORD_TOKEN.finditer(text))
    texts = [m.group() for m in matches]
    lowers = [t.lower() for t in texts]
    heads = _heads(text, matches, lowers, strict)
    capitals = [t[0].isupper() for t in texts] + [False]
    words, previous_end, size = [], 0, len(text)
    for i, match in enumerate(matches):
        start, end = match.span()
        gap_before = text[previous_end:start]
        previous_end = end
        stripped = gap_before.rstrip(" \t")
        sentence_start = not i or "\n" in gap_before or stripped[-1:] in (".", "!", "?", ":")
        after = text[end] if end < size else ""
        glued = (start > 0 and text[start - 1] in _GLUE_BEFORE) or after in _GLUE_AFTER and after != "" or (
            after == "." and text[end + 1 : end + 2].isalnum()
        )
        words.append(_Word(start, end, texts[i], sentence_start, glued, i in heads,
                           capitals[i - 1] and i > 0 or capitals[i + 1]))
    return words


def document_terms(text: str, limit: int = 300) -> list[str]:
    """Terms of a document for ``perturbations(..., vocabulary=...)``: nouns that end a
    noun phrase after a determiner ("the crafted *packet*"), capitalised words inside a
    sentence (names) and technical identifiers (snake_case, camelCase), first seen first.

    >>> document_terms("The attacker sends a crafted packet to the Apache server via parse_header.")
    ['attacker', 'packet', 'Apache', 'server', 'parse_header']
    """
    return DocumentTerms()([text], limit)


_IDENTIFIER_CANDIDATE = re.compile(r"(?<![\w.])[A-Za-z_]\w*")


class DocumentTerms:
    """:func:`document_terms` of a document given as parts (its paragraphs), each part
    analysed once per instance: the passages of one document share their outside
    paragraphs, so a caller that makes terms for many of them keeps one instance (e.g. per
    batch) and no line is read twice. The parts count as joined by newlines.

    >>> terms = DocumentTerms()
    >>> terms(["The attacker sends a crafted packet", "to the Apache server via parse_header."])
    ['attacker', 'packet', 'Apache', 'server', 'parse_header']
    >>> terms(["The attacker sends a crafted packet", "to the Apache server via parse_header."]) == document_terms(
    ...     "The attacker sends a crafted packet\\nto the Apache server via parse_header.")
    True
    """

    def __init__(self) -> None:
        self._parts: dict[str, tuple[list[_Word], list[str]]] = {}

    def _analysed(self, part: str) -> tuple[list[_Word], list[str]]:
        """The words of one line (their ``in_name`` is decided across lines by the caller) and
        its identifier terms. No word, noun phrase or identifier crosses a newline, so the lines
        of a text are analysed alone; only a name's neighbour may be on the next line."""
        found = self._parts.get(part)
        if found is None:
            identifiers = [
                name for name in (m.group() for m in _IDENTIFIER_CANDIDATE.finditer(part))
                if ("_" in name.strip("_") or re.search(r"[a-z][A-Z]", name)) and _identifier_shape(name)
            ]
            found = self._parts[part] = (_words(part, strict=True), identifiers)
        return found

    def __call__(self, parts: Sequence[str], limit: int = 300) -> list[str]:
        """The terms of ``"\\n".join(parts)``, as :func:`document_terms` finds them."""
        # Lines are the unit of reuse: the text around a gold changes with the span, its lines do not.
        analysed = [self._analysed(line) for part in parts for line in part.split("\n")]
        words = [word for part_words, _ in analysed for word in part_words]
        capitals = [word.text[0].isupper() for word in words] + [False]
        seen: dict[str, str] = {}
        for i, word in enumerate(words):
            in_name = capitals[i - 1] and i > 0 or capitals[i + 1]
            if word.glued or not (word.head_noun or word.text[0].isupper() and not word.sentence_start and not in_name):
                continue
            shape = _word_shape(word.text)
            if shape is None:
                continue
            named = shape[0] in ("title", "upper", "mixed") and not word.sentence_start and not in_name
            if named or (word.head_noun and shape[0] == "lower"):
                seen.setdefault(word.text.lower(), word.text)
                if len(seen) >= limit:
                    return list(seen.values())
        for _, identifiers in analysed:
            for name in identifiers:
                seen.setdefault(name.lower(), name)
                if len(seen) >= limit:
                    return list(seen.values())
        return list(seen.values())


# --- numbers and calculations ------------------------------------------------------------------
@dataclass(frozen=True)
class _Number:
    start: int
    end: int
    shown: Fraction
    decimals: int
    commas: bool
    percent: bool
    free: bool

    @property
    def scale(self) -> Fraction:
        return Fraction(1, 100) if self.percent else Fraction(1)


@dataclass(frozen=True)
class _Statement:
    """``operands[0] ops[0] operands[1] ... = result``; operator sites for flipping."""

    operands: tuple[int, ...]
    ops: tuple[tuple[int, int, str], ...]
    opens: tuple[int, ...]
    closes: tuple[int, ...]
    result: int
    exact: bool


def _evaluate(values: list[Fraction], ops: list[str], opens: tuple[int, ...], closes: tuple[int, ...]) -> Fraction | None:
    source = "".join(
        "(" * opens[i] + f"v{i}" + ")" * closes[i] + (_OPERATORS[ops[i]] if i < len(ops) else "")
        for i in range(len(values))
    )
    try:
        tree = parse_python(source, mode="eval").body
    except SyntaxError:
        return None

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Name):
            return values[int(node.id[1:])]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.Div):
                return left / right
            if isinstance(node.op, ast.Pow) and right.denominator == 1 and 0 <= right <= 12 and abs(left) < 10**6:
                return left ** int(right)
        raise ValueError("unsupported")

    try:
        return walk(tree)
    except (ValueError, ZeroDivisionError, IndexError):
        return None


def _format(value: Fraction, like: _Number) -> str | None:
    scaled = value * 10**like.decimals
    units = int(scaled) if scaled.denominator == 1 else int((scaled + Fraction(1, 2)) // 1)
    if units < 0:
        return None
    digits = str(units).rjust(like.decimals + 1, "0")
    whole, fraction = (digits[: -like.decimals], digits[-like.decimals :]) if like.decimals else (digits, "")
    if like.commas:
        whole = f"{int(whole):,}"
    return whole + ("." + fraction if fraction else "")


class _Calculation:
    """The numbers of a prose gold and the arithmetic statements that tie them together."""

    def __init__(self, gold: str, keep: Collection[str] = ()) -> None:
        self.gold = gold
        self.numbers: list[_Number] = []
        for match in _NUMBER.finditer(gold):
            whole, fraction = match.group(1), match.group(2)
            percent = bool(_PERCENT.match(gold, match.end()))
            value = Fraction(whole.replace(",", "") + ("." + fraction if fraction else ""))
            year = fraction is None and "," not in whole and len(whole) == 4 and 1800 <= int(whole) <= 2100
            leading_zero = len(whole) > 1 and whole.startswith("0")
            structural = value in (0, 1) and not fraction
            self.numbers.append(_Number(match.start(), match.end(), value, len(fraction or ""), "," in whole,
                                        percent, not (year or leading_zero or structural)))
        self.statements = self._statements()
        derived = {self.numbers[s.result].shown for s in self.statements}
        self.free_values = list(dict.fromkeys(
            n.shown for n in self.numbers
            if n.free and n.shown not in derived and gold[n.start : n.end].replace(",", "") not in keep
        ))
        self.values = {n.shown for n in self.numbers}
        self.op_sites = [(s, j) for s, statement in enumerate(self.statements) for j in range(len(statement.ops))
                         if statement.ops[j][2] in _OPERATOR_FLIP]

    def _statements(self) -> list[_Statement]:
        gold, numbers, found = self.gold, self.numbers, []
        i = 0
        while i < len(numbers) - 1:
            before = gold[: numbers[i].start].rstrip(" $€£(")
            if before and before[-1] in "+-*/×÷^·−" or before.endswith(("\\times", "\\cdot", "\\div")):
                i += 1
                continue
            opens = [gold[len(before) : numbers[i].start].count("(")]
            ops, closes, j = [], [], i
            while j < len(numbers) - 1:
                gap_start = numbers[j].end + (len(_PERCENT.match(gold, numbers[j].end).group()) if numbers[j].percent else 0)
                operator = _OPERATOR_GAP.fullmatch(gold, gap_start, numbers[j + 1].start)
                if operator is None:
                    break
                closes.append(operator.group("close").count(")"))
                ops.append((operator.start("op"), operator.end("op"), operator.group("op")))
                opens.append(operator.group("open").count("("))
                j += 1
            if not ops or j >= len(numbers) - 1:
                i = j + 1
                continue
            gap_start = numbers[j].end + (len(_PERCENT.match(gold, numbers[j].end).group()) if numbers[j].percent else 0)
            equals = _EQUALS_GAP.fullmatch(gold, gap_start, numbers[j + 1].start)
            statement = self._checked(list(range(i, j + 1)), ops, opens, closes + [equals.group("close").count(")")], j + 1) if equals else None
            if statement is not None:
                found.append(statement)
            i = j + 1
        return found

    def _checked(self, operands: list[int], ops: list, opens: list[int], closes: list[int], result: int) -> _Statement | None:
        end = self.numbers[result].end
        after = self.gold[end:].lstrip(" %)")
        if self.gold[end : end + 1].isalpha() or after[:1] in ("+", "*", "/", "^", "×", "÷", "="):
            return None  # "= 12x" or "= 12 + 5": the number is not the whole result
        if re.match(r"-\s*\d", after):
            return None
        value = _evaluate([self.numbers[k].shown * self.numbers[k].scale for k in operands], [o[2] for o in ops],
                          tuple(opens), tuple(closes))
        target = self.numbers[result]
        if value is None:
            return None
        shown = value / target.scale
        if abs(shown - target.shown) >= Fraction(1, 2 * 10**target.decimals):
            return None
        return _Statement(tuple(operands), tuple(ops), tuple(opens), tuple(closes), result, shown == target.shown)

    def _new_value(self, number: _Number, rng: np.random.Generator, forbidden: set[Fraction]) -> Fraction | None:
        scale = 10**number.decimals
        units = int(number.shown * scale)
        step = 1
        while units % (step * 10) == 0 and step * 10 < units:
            step *= 10
        base = units // step
        for _ in range(8):
            if base <= 10:
                delta = int(rng.choice([-2, -1, 1, 2, 3]))
            else:
                delta = max(1, round(base * float(rng.uniform(0.1, 0.5)))) * int(rng.choice([-1, 1]))
            new = Fraction((base + delta) * step, scale)
            if new < 2 or new in forbidden or (number.percent and number.shown <= 100 < new):
                continue
            return new
        return None

    def edit(
        self, rng: np.random.Generator, change_numbers: int, flip_operator: bool
    ) -> list[tuple[int, int, str]] | None:
        """Replacements ``(start, end, text)`` that change ``change_numbers`` input values
        and/or one operator and recompute every statement, or ``None`` when no consistent
        variant came out."""
        for _ in range(4):
            chosen: dict[Fraction, Fraction] = {}
            if change_numbers and self.free_values:
                count = min(change_numbers, len(self.free_values))
                for index in sorted(rng.choice(len(self.free_values), size=count, replace=False).tolist()):
                    value = self.free_values[index]
                    number = next(n for n in self.numbers if n.shown == value and n.free)
                    new = self._new_value(number, rng, self.values | set(chosen.values()))
                    if new is not None:
                        chosen[value] = new
            flips: dict[tuple[int, int], str] = {}
            if flip_operator and self.op_sites:
                s, j = self.op_sites[int(rng.integers(len(self.op_sites)))]
                flips[(s, j)] = _OPERATOR_FLIP[self.statements[s].ops[j][2]]
            mapping = self._propagate(chosen, flips)
            if mapping is None or (mapping == {} and not flips):
                continue
            finals = {value: mapping.get(value, value) for value in self.values}
            if len(set(finals.values())) < len(finals):
                continue
            replacements = []
            for number in self.numbers:
                if number.shown in mapping:
                    text = _format(mapping[number.shown], number)
                    if text is None:
                        break
                    replacements.append((number.start, number.end, text))
            else:
                for (s, j), op in flips.items():
                    start, end, _ = self.statements[s].ops[j]
                    replacements.append((start, end, op))
                return replacements
        return None

    def _propagate(self, chosen: dict[Fraction, Fraction], flips: dict[tuple[int, int], str]) -> dict[Fraction, Fraction] | None:
        """Recompute the statements in text order, each using the newest values (so a result
        reaches every later use), until nothing changes; ``None`` when two statements give
        one number two values or a result cannot be written like the original."""
        current = dict(chosen)
        for _ in range(len(self.statements) + 1):
            assigned: dict[Fraction, Fraction] = {}
            changed = False
            for s, statement in enumerate(self.statements):
                values = [current.get(self.numbers[k].shown, self.numbers[k].shown) * self.numbers[k].scale
                          for k in statement.operands]
                ops = [flips.get((s, j), op[2]) for j, op in enumerate(statement.ops)]
                value = _evaluate(values, ops, statement.opens, statement.closes)
                target = self.numbers[statement.result]
                if value is None:
                    return None
                shown = value / target.scale
                scaled = shown * 10**target.decimals
                if scaled.denominator != 1:
                    if statement.exact:
                        return None
                    shown = Fraction(int((scaled + Fraction(1, 2)) // 1), 10**target.decimals)
                if shown < 0 <= target.shown or (target.shown > 0 and shown == 0):
                    return None
                if assigned.setdefault(target.shown, shown) != shown:
                    return None
                if current.get(target.shown, target.shown) != shown:
                    current[target.shown] = shown
                    changed = True
            if not changed:
                return {old: new for old, new in current.items() if old != new}
        return None


# --- prose sites -------------------------------------------------------------------------------
def _prose_sites(gold: str, vocabulary: Sequence[str]) -> dict[str, list[_Site]]:
    sites: dict[str, list[_Site]] = {"words": [], "terms": [], "negation": [], "operators": []}
    math = bool(_MATH_CONTEXT.search(gold))
    words = _words(gold)
    gold_words = {w.text.lower() for w in words}
    terms = _Terms(vocabulary, gold_words) if vocabulary else None
    for i, word in enumerate(words):
        if word.glued:
            continue
        lower = word.text.lower()
        previous = words[i - 1].text.lower() if i else ""
        following = words[i + 1].text.lower() if i + 1 < len(words) else ""
        swapped = _WORD_SWAPS.get(lower)
        if swapped and _case(word.text) in ("lower", "title") and _word_fits(lower, previous, following, gold, word, math):
            if lower == "lower" and following in _BOUND_NOUNS:
                swapped = "upper"
            sites["words"].append(_Site(word.start, word.end, (_recase(swapped, word.text),)))
        elif terms is not None and not word.sentence_start:
            options = terms.options(word, previous)
            if options:
                sites["terms"].append(_Site(word.start, word.end, options))
    for match in _NEGATED.finditer(gold):
        cannot, verb, contraction = match.groups()
        replacement = "can" if cannot else verb if verb else _CONTRACTION[contraction.lower()]
        sites["negation"].append(_Site(match.start(), match.end(), (_recase(replacement, match.group()),)))
    for match in _NEGATABLE.finditer(gold):
        verb, following = match.groups()
        before = gold[: match.start()].rstrip()
        if following in _PRONOUNS or following.endswith("ly") or not before or not (before[-1].isalnum() or before[-1] in ")\"'"):
            continue
        sites["negation"].append(_Site(match.start(), match.end(1), ("cannot" if verb == "can" else f"{verb} not",)))
    if math:
        for match in _INEQUALITY.finditer(gold):
            sites["operators"].append(_Site(match.start(), match.end(), (_INEQUALITY_FLIP[match.group()],)))
    return sites


def _word_fits(lower: str, previous: str, following: str, gold: str, match: _Word, math: bool) -> bool:
    if lower in _ARITHMETIC_WORDS and not math:
        return False
    if lower in ("even", "odd"):
        tail = gold[match.end : match.end + 2]
        return following in _PARITY_NOUNS or (previous in ("is", "are", "be", "both") and not tail[:1].isspace())
    if lower in ("more", "less"):
        return previous not in ("once", "any", "no", "much", "nothing", "none")
    return not (lower in ("first", "last") and following in ("time", "name", "names"))


def _recase(word: str, like: str) -> str:
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


class _Terms:
    """The document's vocabulary grouped by shape, minus the gold's own words."""

    def __init__(self, vocabulary: Sequence[str], gold_words: set[str]) -> None:
        self.forms: dict[str, str] = {}
        self.by_shape: dict[tuple[str, bool, str], list[str]] = {}
        for term in vocabulary:
            lower = term.lower()
            if lower in self.forms:
                continue
            self.forms[lower] = term
            shape = _word_shape(term)
            if shape is not None and lower not in gold_words:
                self.by_shape.setdefault(shape, []).append(term)

    def options(self, word: _Word, previous: str) -> tuple[str, ...]:
        """Same-shape terms for a name inside a sentence or the head noun of a noun phrase."""
        form = self.forms.get(word.text.lower())
        if form is None or _case(form) != _case(word.text):
            return ()
        shape = _word_shape(form)
        if shape is None:
            return ()
        named = shape[0] in ("title", "upper", "mixed") and not word.in_name
        if not (word.head_noun and shape[0] == "lower" or named):
            return ()
        vowel = word.text[0].lower() in "aeiou"
        return tuple(
            c for c in self.by_shape.get(shape, [])
            if 0.6 <= len(c) / len(word.text) <= 1.6 and (previous not in ("a", "an") or (c[0].lower() in "aeiou") == vowel)
        )[:24]


# --- code sites --------------------------------------------------------------------------------
_COMPARISON_FLIPS = {"<": ("<=", ">"), "<=": ("<", ">="), ">": (">=", "<"), ">=": (">", "<="),
                     "==": ("!=",), "!=": ("==",), "===": ("!==",), "!==": ("===",), "&&": ("||",), "||": ("&&",),
                     "+=": ("-=",), "-=": ("+=",)}
_NAME_FLIPS = {"and": "or", "or": "and", "min": "max", "max": "min", "True": "False", "False": "True",
               "true": "false", "false": "true"}
_CODE_NAME_SWAPS: dict[str, str] = {}
for _a, _b in [("left", "right"), ("low", "high"), ("lo", "hi"), ("start", "end"), ("begin", "end"), ("first", "last"),
               ("prev", "next"), ("head", "tail"), ("row", "col"), ("rows", "cols"), ("width", "height"),
               ("key", "value"), ("keys", "values"), ("push", "pop"), ("lower", "upper"), ("min", "max"),
               ("before", "after"), ("old", "new"), ("src", "dst"), ("source", "target"), ("x", "y"), ("i", "j"),
               ("append", "pop"), ("inner", "outer"), ("parent", "child"), ("smallest", "largest")]:
    _CODE_NAME_SWAPS.setdefault(_a, _b)
    _CODE_NAME_SWAPS.setdefault(_b, _a)
_CONDITION_OPENERS = frozenset({"if", "elif", "while", "return", "and", "or", "(", "=", ",", "assert", "not"})


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int
    end: int


def _significant_tokens(gold: str, python: bool) -> list[_Token]:
    tokens, position = [], 0
    for kind, text in code_tokens(gold, python):
        if kind not in ("space", "comment"):
            tokens.append(_Token(kind, text, position, position + len(text)))
        position += len(text)
    return tokens


def _closing(tokens: list[_Token], opening: int) -> int | None:
    depth = 0
    for k in range(opening, len(tokens)):
        if tokens[k].kind == "op" and tokens[k].text in "([{":
            depth += 1
        elif tokens[k].kind == "op" and tokens[k].text in ")]}":
            depth -= 1
            if depth == 0:
                return k
    return None


def _int_options(value: int, keep_positive: bool) -> tuple[str, ...]:
    options = [value + 1] + ([value - 1] if value - 1 >= (1 if keep_positive else 0) else [])
    return tuple(str(v) for v in options)


def _code_sites(gold: str, python: bool, vocabulary: Sequence[str]) -> dict[str, list[_Site]]:
    sites: dict[str, list[_Site]] = {"operators": [], "indices": [], "numbers": [], "negation": [], "terms": [],
                                     "words": []}
    tokens = _significant_tokens(gold, python)
    used: set[int] = set()
    identifiers = {t.text for t in tokens if t.kind == "name"}
    shapes: dict[tuple, list[str]] = {}
    for term in dict.fromkeys(vocabulary):
        shape = _identifier_shape(term)
        if shape is not None and term not in identifiers:
            shapes.setdefault(shape, []).append(term)
    vocabulary_set = set(vocabulary)

    def text(k: int) -> str:
        return tokens[k].text if 0 <= k < len(tokens) else ""

    def operand_before(k: int) -> bool:
        if k < 0:
            return False
        token = tokens[k]
        return (token.kind in ("number", "string") or (token.kind == "name" and token.text not in PYTHON_KEYWORDS)
                or token.text in (")", "]", "}") or token.text in ("True", "False", "None"))

    for k, token in enumerate(tokens):
        if token.kind == "op":
            if token.text in ("<", ">") and not python and tokens[k - 1].text[:1].isupper():
                continue  # a generic type, List<String>
            if token.text in _COMPARISON_FLIPS:
                sites["operators"].append(_Site(token.start, token.end, _COMPARISON_FLIPS[token.text]))
            elif token.text in ("+", "-") and operand_before(k - 1):
                sites["operators"].append(_Site(token.start, token.end, ("-" if token.text == "+" else "+",)))
            elif token.text == "[" and operand_before(k - 1) and k + 2 < len(tokens) and text(k + 2) == "]":
                inner = tokens[k + 1]
                if inner.kind == "name" and inner.text not in _BUILTINS:
                    sites["indices"].append(_Site(inner.start, inner.end, (f"{inner.text} + 1", f"{inner.text} - 1")))
                    used.add(k + 1)
        elif token.kind == "name":
            if token.text in _NAME_FLIPS and (python or token.text not in ("and", "or", "True", "False")):
                if token.text in ("min", "max") and text(k + 1) != "(":
                    continue
                sites["operators"].append(_Site(token.start, token.end, (_NAME_FLIPS[token.text],)))
            elif python and token.text == "is":
                if text(k + 1) == "not":
                    sites["operators"].append(_Site(token.start, tokens[k + 1].end, ("is",)))
                elif text(k + 1) == "None":
                    sites["operators"].append(_Site(token.start, token.end, ("is not",)))
            elif python and token.text == "not":
                if text(k + 1) == "in":
                    sites["operators"].append(_Site(token.start, tokens[k + 1].end, ("in",)))
                elif text(k - 1) in _CONDITION_OPENERS and text(k - 1) != "not" and k + 1 < len(tokens):
                    sites["negation"].append(_Site(token.start, tokens[k + 1].start, ("",)))
            elif python and token.text in ("if", "elif", "while") and _simple_condition(tokens, k + 1):
                sites["negation"].append(_Site(tokens[k + 1].start, tokens[k + 1].start, ("not ",)))
            elif token.text == "range" and text(k + 1) == "(":
                _range_sites(tokens, k + 1, sites["indices"], used)
            elif _swapped_name(token.text) and text(k - 1) not in ("def", "class", "import"):
                sites["words"].append(_Site(token.start, token.end, (_swapped_name(token.text),)))
            elif token.text in vocabulary_set and text(k - 1) not in ("def", "class", "import"):
                shape = _identifier_shape(token.text)
                options = tuple(shapes.get(shape, [])[:24]) if shape else ()
                if options:
                    sites["terms"].append(_Site(token.start, token.end, options))
        elif token.kind == "number" and token.text.isdigit() and k not in used:
            value = int(token.text)
            if text(k - 1) in ("[", ":") and text(k + 1) in ("]", ":"):
                sites["indices"].append(_Site(token.start, token.end, _int_options(value, False)))
            elif text(k - 1) == "-" and text(k - 2) == "[":
                sites["indices"].append(_Site(token.start, token.end, _int_options(value, True)))
            else:
                sites["numbers"].append(_Site(token.start, token.end, _int_options(value, False)))
    return sites


def _swapped_name(name: str) -> str:
    """``left`` -> ``right``, ``low_index`` -> ``high_index``: the first part of a snake_case
    identifier with an opposite; ``""`` when none has one."""
    if name in _BUILTINS and name not in ("min", "max"):
        return ""
    parts = name.split("_")
    for index, part in enumerate(parts):
        if part in _CODE_NAME_SWAPS and (len(part) > 1 or len(parts) == 1):
            return "_".join(parts[:index] + [_CODE_NAME_SWAPS[part]] + parts[index + 1 :])
    return ""


def _simple_condition(tokens: list[_Token], first: int) -> bool:
    """Whether the condition starting at ``first`` is a bare operand (``if done:``), where
    ``not`` reads naturally; a comparison is flipped by the operator edits instead."""
    depth = 0
    for token in tokens[first:]:
        if token.text in "([{":
            depth += 1
        elif token.text in ")]}":
            depth -= 1
        elif token.text == ":" and depth == 0:
            return True
        elif token.text in _COMPARISON_FLIPS or token.text in ("and", "or", "in", "is", "not", "if", "else"):
            return False
    return False


def _range_sites(tokens: list[_Token], opening: int, out: list[_Site], used: set[int]) -> None:
    closing = _closing(tokens, opening)
    if closing is None or closing == opening + 1:
        return
    arguments, start = [], opening + 1
    depth = 0
    for k in range(opening + 1, closing):
        if tokens[k].text in "([{":
            depth += 1
        elif tokens[k].text in ")]}":
            depth -= 1
        elif tokens[k].text == "," and depth == 0:
            arguments.append((start, k - 1))
            start = k + 1
    arguments.append((start, closing - 1))
    for index, (first, last) in enumerate(arguments[:2]):
        if first > last:
            continue
        if first == last and tokens[first].kind == "number" and tokens[first].text.isdigit():
            out.append(_Site(tokens[first].start, tokens[first].end, _int_options(int(tokens[first].text), False)))
            used.add(first)
        elif index == len(arguments[:2]) - 1:
            end = tokens[last].end
            out.append(_Site(end, end, (" + 1", " - 1")))


# --- the plan: sites found once, variants spliced ----------------------------------------------
def _kept_sites(gold: str, sites: list[_Site], keep: Collection[str]) -> list[_Site]:
    """The sites whose edit takes no ``keep`` word out of the gold: the site's text is not a
    kept word, or the site may only become kept words."""
    out = []
    for site in sites:
        words = keep_words(gold[site.start : site.end])
        if not words & set(keep):
            out.append(site)
            continue
        options = tuple(o for o in site.options if keep_words(o) <= set(keep))
        if options:
            out.append(_Site(site.start, site.end, options))
    return out


class _Plan:
    def __init__(self, gold: str, kind: SpanKind, vocabulary: Sequence[str], keep: Collection[str] = ()) -> None:
        self.gold = gold
        self.kind = kind
        self.calculation: _Calculation | None = None
        if kind == "line":
            self.tree = parse_fragment(gold)
            self.python = self.tree is not None or bool(_PYTHON_HINT.search(gold))
            self.canonical = canonical_code(gold) if self.tree is not None else None
            self.signature = bracket_signature(gold, self.python)
            self.sites = _code_sites(gold, self.python, vocabulary)
        else:
            self.sites = _prose_sites(gold, vocabulary)
            calculation = _Calculation(gold, keep)
            if calculation.free_values or calculation.op_sites:
                self.calculation = calculation
        if keep:
            self.sites = {name: _kept_sites(gold, found, keep) for name, found in self.sites.items()}
        self.edits = [name for name, found in self.sites.items() if found]
        if self.calculation is not None:
            if self.calculation.free_values:
                self.edits.append("numbers")
            if self.calculation.op_sites and "operators" not in self.edits:
                self.edits.append("operators")
        self.edits.sort()

    def attempt(self, edits: list[str], rng: np.random.Generator, far_enough) -> tuple[str, str] | None:
        replacements: list[tuple[int, int, str]] = []
        applied: set[str] = set()
        if self.calculation is not None and ("numbers" in edits or "operators" in edits):
            flip = "operators" in edits and bool(self.calculation.op_sites) and (
                not self.sites.get("operators") or rng.random() < 0.5
            )
            free = len(self.calculation.free_values) if "numbers" in edits else 0
            if free or flip:
                calculated = None
                first = int(rng.integers(1, min(3, free) + 1)) if free else 0
                for count in range(first, max(free, first) + 1):
                    calculated = self.calculation.edit(rng, count, flip)
                    if calculated is None or far_enough(_splice(self.gold, calculated)) or len(self.sites_of(edits)) > 1:
                        break
                if calculated is None:
                    return None
                replacements += calculated
                applied |= ({"numbers"} if any(self.gold[a:b][:1].isdigit() for a, b, _ in calculated) else set())
                applied |= {"operators"} if flip else set()
        pool = self.sites_of(edits)
        text = _splice(self.gold, replacements)
        for index in rng.permutation(len(pool)).tolist() if pool else []:
            if replacements and far_enough(text):
                break
            edit, site = pool[index]
            if any(site.start < end and start < site.end or site.start == start for start, end, _ in replacements):
                continue
            option = site.options[int(rng.integers(len(site.options)))]
            replacements.append((site.start, site.end, option))
            applied.add(edit)
            text = _splice(self.gold, replacements)
        if not replacements or text == self.gold or not far_enough(text) or not self.well_formed(text):
            return None
        return text, "+".join(sorted(applied))

    def everything(self) -> str:
        """The gold with every site edited at once (the first option of each, no overlaps)."""
        replacements: list[tuple[int, int, str]] = []
        for _, site in self.sites_of(self.edits):
            if not any(site.start < end and start < site.end or site.start == start for start, end, _ in replacements):
                replacements.append((site.start, site.end, site.options[0]))
        return _splice(self.gold, replacements)

    def sites_of(self, edits: list[str]) -> list[tuple[str, _Site]]:
        return [(edit, site) for edit in edits for site in self.sites.get(edit, [])]

    def well_formed(self, text: str) -> bool:
        if self.kind != "line":
            return True
        if self.tree is None:
            return bracket_signature(text, self.python) == self.signature
        canonical = canonical_code(text)
        return canonical is not None and canonical != self.canonical


def _splice(text: str, replacements: list[tuple[int, int, str]]) -> str:
    parts, position = [], 0
    for start, end, new in sorted(replacements, key=lambda r: (r[0], r[1])):
        parts.append(text[position:start])
        parts.append(new)
        position = end
    parts.append(text[position:])
    return "".join(parts)


def perturbations(
    gold: str,
    rng: np.random.Generator,
    max_variants: int = 4,
    attempts: int = 24,
    *,
    vocabulary: Sequence[str] = (),
    kind: SpanKind = "sentence",
    keep: Collection[str] = (),
) -> list[tuple[str, str]]:
    """Up to ``max_variants`` distinct well-formed variants of ``gold`` as ``(text, edits)`` pairs.

    ``edits`` names the edits applied, e.g. ``"numbers+words"``. ``kind`` is ``"line"`` for
    code lines and ``"sentence"`` for prose; ``vocabulary`` holds terms of the gold's
    document (see :func:`document_terms`) for term swaps. Variants are drawn with ``rng``
    (reproducible) and kept only when far enough from the gold and from each other.

    ``keep`` holds lower-cased words and numbers of the passage around the gold: an edit
    does not take such a word or number out of the gold (its replacement must be in
    ``keep`` too), so a variant says the same things about the passage's givens as the
    gold does and differs in what it derives from them. (Without it, a variant that
    changes "5 red marbles" to "6" is ruled out by comparing it with the question, and a
    topic-matching solver finds the gold.) When no edit is left under that rule, ``keep``
    is ignored.

    >>> import numpy as np
    >>> perturbations("Plain words here", np.random.default_rng(0))
    []
    >>> [t for t, _ in perturbations("So 5 * 3 = 15 and 15 + 4 = 19.", np.random.default_rng(1), keep={"5", "4"})][:2]
    ['So 5 * 3 = 15 and 15 - 4 = 11.', 'So 5 * 6 = 30 and 30 - 4 = 26.']
    >>> perturbations("if n < 0:\\n    return None", np.random.default_rng(0), kind="line")
    [('if n <= 1:\\n    return None', 'numbers+operators'), ('if n > 1:\\n    return None', 'numbers+operators')]
    """
    if kind not in ("sentence", "line"):
        raise ValueError(f"kind must be 'sentence' or 'line', not {kind!r}")
    plan = _Plan(gold, kind, vocabulary, keep)
    if keep and not plan.edits:
        plan = _Plan(gold, kind, vocabulary)
    if not plan.edits or max_variants <= 0:
        return []
    # While edits are added, a cheap check (lower-cased raw text) decides when to stop; a
    # variant is accepted on the exact comparison the task validator uses.
    quick = [" ".join(gold.lower().split())]
    exact = [normalize_for_comparison(gold)]

    def far_enough(text: str) -> bool:
        lowered = " ".join(text.lower().split())
        return all(fuzz.ratio(lowered, other, score_cutoff=MAX_SIMILARITY) <= MAX_SIMILARITY for other in quick)

    if plan.calculation is None and not far_enough(plan.everything()):
        return []  # even every edit at once stays a near-duplicate
    variants: list[tuple[str, str]] = []
    failures = 0
    for _ in range(attempts):
        if len(variants) >= max_variants or failures >= _MAX_FAILURES:
            break
        count = int(rng.integers(1, min(2, len(plan.edits)) + 1))
        edits = sorted(rng.choice(plan.edits, size=count, replace=False).tolist())
        made = plan.attempt(edits, rng, far_enough)
        norm = normalize_for_comparison(made[0]) if made is not None else ""
        if made is None or any(fuzz.ratio(norm, other, score_cutoff=MAX_SIMILARITY) > MAX_SIMILARITY for other in exact):
            failures += 1
            continue
        failures = 0
        variants.append(made)
        quick.append(" ".join(made[0].lower().split()))
        exact.append(norm)
    return variants
