"""Whether a distractor is "also correct": it would fill ``[MASK]`` as well as the gold.

A task with two right options is broken, so a distractor equivalent to its gold must go.
The cost is asymmetric: flagging a wrong distractor as equivalent only loses one option,
missing a right one breaks the task. Code therefore leans towards "equivalent"; math and
prose flag only what is clearly the same claim.

* **code**: syntax trees after rewrites that keep the meaning in idiomatic code (see
  :class:`_Canonical`): ``x += 1`` is ``x = x + 1``; ``a != b`` is ``not a == b``; ``a > b``
  is ``b < a``; operands of ``==``/``is``/``+``/``*`` are sorted; and comparisons with an
  empty or zero value read as truthiness: ``n == 0``, ``s == ""``, ``len(x) == 0``,
  ``x is None`` all become ``not x`` (and ``x != 0``, ``len(x) > 0``, ``x is not None``
  become ``x`` where only truthiness matters: an ``if``/``while``/``assert`` test, an
  operand of ``and``/``or``/``not``). That is not strict Python semantics (``"" == 0`` is
  false), but a task offering ``if not n:`` beside the gold ``if n == 0:`` has two
  defensible answers, which is what matters here. ``+`` and ``*`` are sorted although
  they do not commute on strings and lists, for the same reason. Parentheses, quote style,
  comments and trailing white space vanish with the tree. Fragments that do not parse
  (another language, a cut expression) compare their code tokens, comments dropped.
* **math**: the final stated value (``x = 4``, ``so x equals 4``, ``the answer is 4``,
  ``#### 4``, ``\\boxed{4}``) is the same number (``1/2`` = ``0.5``; ``50%`` = ``0.5``),
  a named variable is the same, and the distractor uses no number the gold lacks (so a
  distractor whose steps are wrong but whose last number happens to match is not flagged).
* **prose**: the same words once case, punctuation and filler words ("then",
  "therefore", articles) are set aside, or a near-paraphrase by rapidfuzz token-set ratio
  at or above ``prose_threshold`` whose differing words are neither negations, numbers
  nor antonyms.

>>> equivalent("if n == 0:\\n    return 1", "if not n:\\n    return 1", "code")
True
>>> equivalent("So x = 4.", "Therefore x equals 4.", "math"), equivalent("x = 4", "x = 5", "math")
(True, False)
"""

from __future__ import annotations

import ast
import copy
import re
from fractions import Fraction
from typing import Literal

from rapidfuzz import fuzz

from goose.options import normalize_for_comparison
from goose.text.code_fragment import code_tokens, parse_fragment

EquivalenceKind = Literal["code", "math", "prose"]

PROSE_THRESHOLD = 95.0
"""Token-set ratio (0-100) of the content words at or above which two prose spans are a
near-paraphrase, provided no meaning-carrying word differs."""

_FILLER = frozenset(
    "a an the then so thus therefore hence now here also just clearly simply indeed finally first next "
    "that which this these those we can see note notice".split()
)
_MEANING = frozenset(
    "not no never none nor cannot cant dont doesnt isnt arent wasnt werent wont shouldnt without neither "
    "all some any every each more less most least fewer greater smaller larger higher lower before after "
    "always sometimes first last true false largest smallest maximum minimum even odd many few increase decrease "
    "positive negative above below upper lower only both either possible impossible".split()
)
_STATING = frozenset("equals equal is are was get gets got gives give answer value result means which final".split())
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_NOT_SYMBOL = re.compile(r"[\w\s.,;:!?'\"()]+")


# --- code ------------------------------------------------------------------------------------
def _falsy(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float, complex, str, bytes, type(None))) and not node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return not node.elts
    if isinstance(node, ast.Dict):
        return not node.keys
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args and not node.keywords
        and node.func.id in {"list", "dict", "set", "tuple", "str", "bytes", "int", "float"}
    )


def _len_argument(node: ast.expr) -> ast.expr | None:
    if (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len"
        and len(node.args) == 1 and not node.keywords
    ):
        return node.args[0]
    return None


def _not(node: ast.expr) -> ast.expr:
    return ast.UnaryOp(op=ast.Not(), operand=node)


def _key(node: ast.AST) -> str:
    return ast.dump(node)


def _load(node: ast.expr) -> ast.expr:
    """A copy of an assignment target as an expression that reads it."""
    node = copy.deepcopy(node)
    for child in ast.walk(node):
        if hasattr(child, "ctx"):
            child.ctx = ast.Load()  # type: ignore[attr-defined]
    return node


_MIRROR = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}
_NEGATED = {ast.NotEq: ast.Eq, ast.IsNot: ast.Is, ast.NotIn: ast.In}
_COMMUTATIVE = (ast.Add, ast.Mult, ast.BitAnd, ast.BitOr, ast.BitXor)


class _Canonical(ast.NodeTransformer):
    """Rewrites a syntax tree into one canonical form per meaning (see the module docstring)."""

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        value = ast.BinOp(left=_load(node.target), op=node.op, right=node.value)
        return self.visit(ast.Assign(targets=[node.target], value=value, lineno=0))

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, _COMMUTATIVE) and _key(node.right) < _key(node.left):
            node.left, node.right = node.right, node.left
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) != 1:
            return node
        left, op, right = node.left, node.ops[0], node.comparators[0]
        if isinstance(left, ast.Constant) and not isinstance(right, ast.Constant):
            left, right = right, left
            op = _MIRROR.get(type(op), type(op))()
        truth = self._truth_test(left, op, right)
        if truth is not None:
            return truth
        if type(op) in _NEGATED:
            return _not(self.visit_Compare(ast.Compare(left=left, ops=[_NEGATED[type(op)]()], comparators=[right])))
        if isinstance(op, (ast.Gt, ast.GtE)):
            left, right, op = right, left, _MIRROR[type(op)]()
        if isinstance(op, (ast.Eq, ast.Is)) and _key(right) < _key(left):
            left, right = right, left
        return ast.Compare(left=left, ops=[op], comparators=[right])

    @staticmethod
    def _truth_test(left: ast.expr, op: ast.cmpop, right: ast.expr) -> ast.expr | None:
        """``x == 0`` -> ``not x``, ``len(x) > 0`` -> ``not not x`` (collapsed in a test), ...;
        ``None`` when the comparison is not a truthiness test."""
        counted = _len_argument(left)
        if counted is not None and isinstance(right, ast.Constant) and type(right.value) is int:
            empty = {(ast.Eq, 0), (ast.LtE, 0), (ast.Lt, 1)}
            present = {(ast.NotEq, 0), (ast.Gt, 0), (ast.GtE, 1)}
            if (type(op), right.value) in empty:
                return _not(counted)
            if (type(op), right.value) in present:
                return _not(_not(counted))
        if isinstance(right, ast.Constant) and right.value is True and isinstance(op, (ast.Eq, ast.Is)):
            return _not(_not(left))
        if _falsy(right):
            if isinstance(op, (ast.Eq, ast.Is)):
                return _not(left)
            if isinstance(op, (ast.NotEq, ast.IsNot)):
                return _not(_not(left))
        return None

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        inner = node.operand
        if isinstance(node.op, ast.Not) and isinstance(inner, ast.Compare) and len(inner.ops) == 1:
            op = inner.ops[0]
            if isinstance(op, (ast.Lt, ast.LtE)):  # not a < b  ->  b <= a
                flipped = ast.LtE() if isinstance(op, ast.Lt) else ast.Lt()
                return ast.Compare(left=inner.comparators[0], ops=[flipped], comparators=[inner.left])
        return node

    def _test(self, node: ast.expr) -> ast.expr:
        """Simplify an expression whose value is only tested for truth."""
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self._test(node.operand)
            if isinstance(inner, ast.UnaryOp) and isinstance(inner.op, ast.Not):
                return inner.operand
            return _not(inner)
        if isinstance(node, ast.BoolOp):
            node.values = sorted((self._test(v) for v in node.values), key=_key)
        return node

    def _visit_test(self, node: ast.AST) -> ast.AST:
        self.generic_visit(node)
        node.test = self._test(node.test)  # type: ignore[attr-defined]
        return node

    visit_If = visit_While = visit_IfExp = visit_Assert = _visit_test

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        self.generic_visit(node)
        node.ifs = [self._test(test) for test in node.ifs]
        return node


def canonical_code(text: str) -> str | None:
    """The canonical syntax-tree dump of a Python fragment, or ``None`` when it does not parse.

    >>> canonical_code("if not n: pass") == canonical_code("if (n == 0):  # zero\\n    pass")
    True
    """
    tree = parse_fragment(text)
    if tree is None:
        return None
    return ast.dump(_Canonical().visit(tree))


def _code_token_key(text: str) -> tuple[str, ...]:
    tokens = []
    for kind, token in code_tokens(text, python="//" not in text):
        if kind in ("space", "comment"):
            continue
        if kind == "string":
            token = token.lstrip("rRbBuUfF").strip("'\"")
        tokens.append(token)
    return tuple(tokens)


# --- math ------------------------------------------------------------------------------------
_LATEX_FRACTION = re.compile(r"\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(\d+)\s*\}")
_LATEX_DROP = re.compile(r"\\boxed\s*\{|\\(?:left|right|[,;!]|quad|qquad|text\s*\{)|[${}]|\\\(|\\\)|\\\[|\\\]")
_LATEX_SYMBOL = {"\\times": "*", "\\cdot": "*", "\\div": "/", "\\le": "<=", "\\ge": ">=", "\\neq": "!=",
                 "\\leq": "<=", "\\geq": ">=", "\\lt": "<", "\\gt": ">"}
_LATEX_SYMBOLS = re.compile("|".join(re.escape(s) for s in sorted(_LATEX_SYMBOL, key=len, reverse=True)) + r"(?![a-z])")
_MATH_NUMBER = re.compile(r"(?<![\w.])(-?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?:/(\d+)(?!\d|\.\d))?(\s*%| percent\b)?")
_VERB = re.compile(r"=|\bequals?(?:\s+to)?\b|\bis(?:\s+equal\s+to)?\b|\bare\b|\bwas\b|\bgives\b|\bget\b|####|:")
_UNIT_TAIL = re.compile(r"(?:\s+[A-Za-z]+){0,3}[\s.)\]]*")
_VARIABLE = re.compile(r"(?<![\w\\])(?:([A-Za-z])\s*=|([b-zB-HJ-Z])\s+(?:equals?|is)\b)")
_RELATION = re.compile(r"<=|>=|!=|[<>≤≥≠]")
_RELATION_NAMES = {"≤": "<=", "≥": ">=", "≠": "!="}
_CLAUSE_BREAK = re.compile(r"[;\n]|\.(?:\s|$)|,\s|\b(?:and|so|thus|therefore|hence)\b")


def _math_normalize(text: str) -> str:
    text = _LATEX_FRACTION.sub(r"\1/\2", text)
    text = _LATEX_SYMBOLS.sub(lambda m: _LATEX_SYMBOL[m.group()], text)
    return _LATEX_DROP.sub(" ", text)


def _number_values(match: re.Match[str]) -> tuple[Fraction, bool]:
    sign, whole, fraction, denominator, percent = match.groups()
    value = Fraction(whole.replace(",", "") + ("." + fraction if fraction else ""))
    if denominator:
        value = value / int(denominator) if int(denominator) else value
    return (-value if sign else value), bool(percent)


def _same_quantity(a: tuple[Fraction, bool], b: tuple[Fraction, bool]) -> bool:
    (x, x_percent), (y, y_percent) = a, b
    if x_percent == y_percent:
        return x == y
    return (x / 100 if x_percent else x) == (y / 100 if y_percent else y)


class _MathClaim:
    """The final stated value of a math span, its variable, and every number it uses."""

    def __init__(self, text: str) -> None:
        normalized = _math_normalize(text)
        self.numbers = [_number_values(m) for m in _MATH_NUMBER.finditer(normalized)]
        self.relations = [_RELATION_NAMES.get(r, r) for r in _RELATION.findall(normalized)]
        self.final: tuple[Fraction, bool] | None = None
        self.variable: str | None = None
        for clause in reversed([c for c in _CLAUSE_BREAK.split(normalized) if c and c.strip()]):
            claim = self._claim(clause)
            if claim is not None:
                self.final, self.variable = claim
                break

    @staticmethod
    def _claim(clause: str) -> tuple[tuple[Fraction, bool], str | None] | None:
        """The number after the last ``=``/``equals``/``is`` of a clause, when nothing but a
        unit word follows it (``= 4 + x`` states no final value), and the clause's variable."""
        for verb in reversed(list(_VERB.finditer(clause))):
            rest = clause[verb.end() :].lstrip()
            number = _MATH_NUMBER.match(rest)
            if number is None or not _UNIT_TAIL.fullmatch(rest[number.end() :]):
                continue
            named = _VARIABLE.search(clause)
            return _number_values(number), (named.group(1) or named.group(2)) if named else None
        return None

    def covers(self, other: _MathClaim) -> bool:
        """Whether every number of ``other`` is one of this claim's numbers."""
        return all(any(_same_quantity(n, mine) for mine in self.numbers) for n in other.numbers)


def _math_equivalent(gold: _MathClaim, candidate: _MathClaim, gold_words: list[str], candidate_words: list[str]) -> bool:
    """Same final value and variable, no number and no word the gold lacks (bar the words of
    stating a result), and no negation or antonym changed: "the smallest value must not be
    at most 3" is not "the largest value must be at least 3" although both end in 3."""
    if gold.final is None or candidate.final is None or not _same_quantity(gold.final, candidate.final):
        return False
    if gold.variable and candidate.variable and gold.variable != candidate.variable:
        return False
    remaining = iter(gold.relations)
    if not all(relation in remaining for relation in candidate.relations):
        return False  # a flipped inequality: the candidate's relations are not the gold's, in order
    known = set(gold_words)
    new_words = {w for w in candidate_words if w not in known and not w.isdigit() and w not in _STATING}
    if new_words or any(w in _MEANING for w in known.symmetric_difference(candidate_words)):
        return False
    return gold.covers(candidate)


# --- prose -----------------------------------------------------------------------------------
def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(normalize_for_comparison(text).replace("'", "")) if w not in _FILLER]


def _symbols(text: str) -> str:
    """The operators and relations of a text, in order: words alone cannot tell ``a≤b`` from ``a≥b``."""
    return _NOT_SYMBOL.sub("", text)


def _prose_equivalent(gold_words: list[str], candidate: str, threshold: float) -> bool:
    words = _content_words(candidate)
    if words == gold_words:
        return True
    differing = set(words) ^ set(gold_words)
    if not words or any(w in _MEANING or w.isdigit() for w in differing):
        return False
    a, b = " ".join(gold_words), " ".join(words)
    return fuzz.token_set_ratio(a, b) >= threshold and fuzz.ratio(a, b) >= threshold


class EquivalenceChecker:
    """Tests candidates against one gold, normalising the gold once.

    >>> checker = EquivalenceChecker("x += 1", "code")
    >>> checker.matches("x = x + 1"), checker.matches("x = 1 + x"), checker.matches("x -= 1")
    (True, True, False)
    """

    def __init__(self, gold: str, kind: EquivalenceKind = "prose", prose_threshold: float = PROSE_THRESHOLD) -> None:
        if kind not in ("code", "math", "prose"):
            raise ValueError(f"kind must be 'code', 'math' or 'prose', not {kind!r}")
        self.kind = kind
        self.prose_threshold = prose_threshold
        self._gold_words = _content_words(gold)
        self._gold_symbols = _symbols(gold)
        self._gold_tree = canonical_code(gold) if kind == "code" else None
        self._gold_tokens = _code_token_key(gold) if kind == "code" and self._gold_tree is None else None
        self._gold_claim = _MathClaim(gold) if kind == "math" else None

    def matches(self, candidate: str) -> bool:
        """Whether ``candidate`` would also be a correct fill where the gold is."""
        if self.kind == "code":
            if self._gold_tree is not None:
                tree = canonical_code(candidate)
                return tree == self._gold_tree if tree is not None else False
            return _code_token_key(candidate) == self._gold_tokens
        same_symbols = self.kind == "prose" or _symbols(candidate) == self._gold_symbols
        if same_symbols and _prose_equivalent(self._gold_words, candidate, self.prose_threshold):
            return True
        return self._gold_claim is not None and _math_equivalent(
            self._gold_claim, _MathClaim(candidate), self._gold_words, _content_words(candidate)
        )


def equivalent(gold: str, candidate: str, kind: EquivalenceKind = "prose") -> bool:
    """Whether ``candidate`` would also be a correct fill where ``gold`` is (see the module
    docstring for what each ``kind`` compares). For many candidates of one gold use
    :class:`EquivalenceChecker`.

    >>> equivalent("The probability is 1/2.", "The probability is 0.5", "math")
    True
    >>> equivalent("Therefore, the server rejects the request.", "The server rejects the request.")
    True
    >>> equivalent("The server rejects the request.", "The server does not reject the request.")
    False
    """
    return EquivalenceChecker(gold, kind).matches(candidate)


_EQUATION_ONLY = re.compile(r"[A-Za-z]\w*\s*=\s*[-+*/\d.,() ]+\.?")
_MATH_SIGNAL = re.compile(r"\d\s*(?:[-+*/×÷^=<>]|\\times|\\cdot)\s*-?\(?\s*\d|[=<>≤≥]\s*-?\d|\\frac|\\boxed|####")


def guess_kind(gold: str, domain: str | None = None) -> EquivalenceKind:
    """The comparison that suits a gold span: ``code`` for code lines (in the ``code`` domain,
    or any span of several lines that parses as Python and has code signals), ``math`` for
    spans with calculations or stated values, ``prose`` otherwise.

    >>> guess_kind("if n == 0:\\n    return 1"), guess_kind("So 2x = 8, and x = 4."), guess_kind("It rains.")
    ('code', 'math', 'prose')
    >>> guess_kind("x = 4", domain="math"), guess_kind("Add the two halves.", domain="code")
    ('math', 'prose')
    """
    from goose.text.segment import looks_like_code

    lines = [line for line in gold.split("\n") if line.strip()]
    code_lines = sum(looks_like_code(line) for line in lines)
    if domain == "code":
        is_code = code_lines > 0 or parse_fragment(gold) is not None
    elif domain in ("math", "stem"):
        is_code = False
    else:
        is_code = bool(lines) and code_lines * 2 >= len(lines) and not _EQUATION_ONLY.fullmatch(gold.strip())
    if is_code:
        return "code"
    return "math" if _MATH_SIGNAL.search(gold) else "prose"
