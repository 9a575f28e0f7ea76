"""Tests of the cyber keyword router: the security vocabulary, inflection matching and the
keyword density check of QualityFilter (goose.text.security_terms, goose.operators.quality_filter)."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from goose.operators import QualityFilter
from goose.pipeline.operator import RunContext
from goose.presets.domains import CYBER_KEYWORDS, CYBER_MIN_KEYWORD_DENSITY
from goose.text.security_terms import SECURITY_TERMS, keyword_pattern, security_hits, term_pattern


@pytest.mark.parametrize(
    ("term", "forms"),
    [
        ("attack", ["attack", "attacks", "attacked", "attacking", "attacker", "attackers"]),
        ("vulnerability", ["vulnerability", "vulnerabilities"]),
        ("exploit", ["exploit", "exploits", "exploited", "exploiting"]),
        ("escalate", ["escalate", "escalates", "escalated", "escalating"]),
        ("hash", ["hash", "hashes", "hashed", "hashing"]),
        ("spoof", ["spoof", "spoofs", "spoofed", "spoofing"]),
        ("scan", ["scan", "scans", "scanned", "scanning", "scanner"]),
        ("cross-site scripting", ["cross-site scripting", "cross site scripting", "cross-site  scripting"]),
        ("cve", ["cve", "cves", "cve-2021-44228"]),
        ("cryptograph*", ["cryptography", "cryptographic", "cryptographer"]),
    ],
)
def test_term_pattern_matches_inflections(term: str, forms: list[str]) -> None:
    pattern = re.compile(term_pattern(term))
    for form in forms:
        assert pattern.search(form), (term, form)


@pytest.mark.parametrize(("term", "text"), [("attack", "attackable"), ("tls", "tlsx"), ("cve", "cvedetails"),
                                            ("threat", "threatening")])
def test_term_pattern_keeps_word_boundaries(term: str, text: str) -> None:
    assert not re.search(term_pattern(term), text)


def test_exact_matching_when_inflections_are_off() -> None:
    assert not re.search(term_pattern("attacker", inflections=False), "attackers")
    assert re.search(term_pattern("attacker", inflections=False), "the attacker")


def test_phrase_counts_once_not_as_its_words() -> None:
    assert len(re.findall(keyword_pattern(["privilege", "privilege escalation"]), "a privilege escalation bug")) == 1


def test_vocabulary_holds_the_words_the_old_list_missed() -> None:
    assert {"attack", "security", "weakness", "adversary"} <= set(SECURITY_TERMS)
    assert CYBER_KEYWORDS == SECURITY_TERMS
    assert not {"patch", "hash", "key", "token", "injection", "overflow"} & set(SECURITY_TERMS)


def test_security_hits_on_constructed_sentences() -> None:
    security = [
        "Attackers exploited vulnerabilities in the login form to steal passwords.",
        "The adversary spoofed DNS replies and hijacked sessions of authenticated users.",
        "An unauthenticated attacker can trigger a buffer overflow and gain root privileges.",
    ]
    other = [
        "The recipe calls for two cups of flour and a pinch of salt.",
        "Integrate both sides and divide by the constant to solve for x.",
        "The river floods every spring, and the valley farmers plant rice after it recedes.",
    ]
    assert all(security_hits(text) >= 3 for text in security)
    assert all(security_hits(text) == 0 for text in other)


def _route(texts: list[str], **config) -> list[str | None]:
    operator = QualityFilter(
        languages=None, min_words=1, domain_keywords={"cyber": list(CYBER_KEYWORDS)}, min_keyword_hits=3,
        require_domain=True, **config,
    )
    result = operator.process(pa.table({"text": texts, "domain": ["general"] * len(texts)}), RunContext())
    kept = iter(result.kept.column("domain").to_pylist())
    dropped = {drop.index for drop in result.drops}
    return [None if index in dropped else next(kept) for index in range(len(texts))]


def test_router_counts_inflected_hits() -> None:
    text = "The attackers exploited two vulnerabilities; the attacks were detected by the firewall."
    assert _route([text]) == ["cyber"]
    assert _route([text], keyword_inflections=False) == [None]  # only "firewall" matches exactly


def test_density_keeps_long_articles_with_passing_mentions_out() -> None:
    filler = "The harvest festival lasted three days and the whole village joined the dances. " * 100
    long_article = filler + "Raiders attacked the fort; the attack failed, and a second attack came at dawn."
    dense = "Attackers exploited the flaw; the attack bypassed authentication and leaked passwords."
    assert _route([long_article, dense]) == ["cyber", "cyber"]  # hits only
    assert _route([long_article, dense], min_keyword_density=CYBER_MIN_KEYWORD_DENSITY) == [None, "cyber"]
