"""The security vocabulary that routes documents to the ``cyber`` domain, and keyword
patterns that match a term's inflections.

A keyword router counts term hits; on real security text the old list of 50 exact words
missed plurals ("vulnerabilities", "attackers"), verb forms ("exploited", "spoofing") and
common words of the field ("attack", "security", "weakness"), and so dropped half of a
weakness catalogue. :data:`SECURITY_TERMS` is a fuller vocabulary, and
:func:`keyword_pattern` turns a term list into one RE2-compatible pattern (Arrow's
``count_substring_regex`` runs it) in which the last word of every term may take its
inflections: ``attack`` matches attacks, attacked, attacking, attacker(s); ``vulnerability``
matches vulnerabilities; ``escalate`` matches escalated and escalating; multi-word terms
match with spaces or hyphens (``cross-site`` = ``cross site``). A trailing ``*`` makes a
term a prefix (``cryptograph*``).

The vocabulary leaves out words that are frequent outside security in the corpora we
measured (``patch``, ``hash``, ``key``, ``token``, ``session``, ``bypass``, ``injection``
alone, ``overflow`` alone): those count only inside a security phrase
(``security patch``, ``password hash``, ``sql injection``, ``buffer overflow``).

>>> import re
>>> pattern = re.compile(keyword_pattern(["attack", "vulnerability", "cross-site scripting"]))
>>> pattern.findall("attackers exploited two vulnerabilities via cross site scripting")
['attackers', 'vulnerabilities', 'cross site scripting']
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

SECURITY_TERMS: tuple[str, ...] = tuple(dict.fromkeys([
    # the core of the field first (the order is for reading; matching does not depend on it)
    "access control", "attacker", "attack", "vulnerability", "exploit", "malware", "security", "threat",
    # actors and attacks
    "adversary", "attack", "attack surface", "attack vector", "brute force", "clickjacking", "credential stuffing",
    "cyberattack", "cybercrime", "cybercriminal", "cybersecurity", "cyber security", "denial of service", "ddos",
    "dictionary attack", "eavesdrop", "exfiltrate", "exfiltration", "hacker", "hijack", "impersonate",
    "impersonation", "intruder", "lateral movement", "man in the middle", "mitm", "phishing", "replay attack",
    "session fixation", "session hijacking", "side channel", "social engineering", "spear phishing", "spoof",
    "spoofing", "tamper", "threat", "threat actor", "threat model", "threat modeling", "timing attack",
    "identity theft", "packet sniffer", "port scan", "malicious", "maliciously",
    # weaknesses and vulnerability classes
    "arbitrary code", "arbitrary command", "arbitrary file", "buffer overflow", "buffer overread", "buffer overrun",
    "code execution", "code injection", "command injection", "cross-site request forgery", "cross-site scripting",
    "csrf", "xsrf", "deserialization of untrusted data", "directory traversal", "double free", "exploit",
    "exploitable", "exploitation", "uncontrolled format string", "format string vulnerability", "forgery", "heap overflow", "information disclosure",
    "information exposure", "information leak", "injection attack", "injection flaw", "integer overflow",
    "integer underflow", "ldap injection", "memory corruption", "null pointer dereference", "os command injection",
    "out-of-bounds read", "out-of-bounds write", "path traversal", "privilege escalation", "race condition",
    "remote code execution", "server-side request forgery", "sql injection", "ssrf", "stack overflow attack",
    "use after free", "use-after-free", "untrusted", "vulnerability", "vulnerable", "weakness", "xss", "xxe",
    "zero-day", "0-day", "improper neutralization", "sensitive information", "sensitive data",
    "data breach", "security breach", "insecure", "insecurely", "unsafe deserialization", "trust boundary",
    "protection mechanism", "hard-coded password", "hard-coded credentials", "cleartext", "plaintext password",
    # malware
    "adware", "antivirus", "anti-virus", "backdoor", "botnet", "command and control", "computer virus", "exploit kit",
    "keylogger", "malware", "ransomware", "rootkit", "shellcode", "spyware", "trojan horse", "worm propagation",
    # defence, identity and cryptography
    "access control", "aslr", "apparmor", "audit log", "authenticate", "authentication", "authorisation",
    "authorization", "certificate authority", "cipher", "ciphertext", "confidentiality", "countermeasure",
    "credential", "cryptanalysis", "cryptograph*", "cryptographically", "decrypt", "decryption", "digital signature",
    "encrypt", "encryption", "firewall", "hardening", "harden", "hmac", "incident response", "input validation",
    "intrusion", "intrusion detection", "least privilege", "mfa", "multi-factor authentication", "two-factor authentication", "2fa",
    "passphrase", "password", "password hash", "penetration test", "penetration testing", "pentest", "privilege",
    "privileged", "unprivileged", "private key", "public key", "secret key", "key exchange", "sandboxing",
    "sanitize", "sanitise", "sanitization", "seccomp", "security", "security patch", "security hole", "security flaw", "security risk", "security update",
    "security advisory", "selinux", "setuid", "stack canary", "stack protector", "tls", "ssl", "unauthenticated",
    "unauthorised", "unauthorized", "unauthorized access", "mitigation", "digital forensics", "forensic analysis",
    "vulnerability scanner", "fuzzing", "fuzzer", "bug bounty", "red team", "blue team", "nonce", "salted hash",
    "key management", "root privileges", "root access", "root shell",
    # catalogues and organisations
    "capec", "cve", "cvss", "cwe", "mitre att&ck", "owasp", "nvd", "cert/cc",
]))
"""Words and phrases that route a document to the ``cyber`` domain; each also matches its
inflections through :func:`keyword_pattern`."""

_VOWELS = "aeiou"


def _inflections(word: str) -> str:
    """A regex for ``word`` and its inflections (plural, past, -ing, agent noun)."""
    if word.endswith("*"):
        return re.escape(word[:-1]) + r"\w*"
    if not word.isalpha() or len(word) <= 4 and not any(c in _VOWELS for c in word[1:]):
        return re.escape(word) + "s?"  # acronyms and tokens such as 2fa, cve, xss, tls
    if word.endswith("y") and len(word) > 2 and word[-2] not in _VOWELS:
        return re.escape(word[:-1]) + "(?:y|ies|ied|ying)"
    if word.endswith("e"):
        return re.escape(word[:-1]) + "(?:e|es|ed|ing|ers?)"
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return re.escape(word) + "(?:es|ed|ing|ers?)?"
    doubled = ""
    if len(word) >= 3 and word[-1] not in _VOWELS + "wxy" and word[-2] in _VOWELS and word[-3] not in _VOWELS:
        doubled = "|" + re.escape(word[-1]) + "(?:ed|ing|ers?)"  # scan -> scanned, spam -> spammer
    return re.escape(word) + "(?:s|ed|ing|ers?" + doubled + ")?"


def term_pattern(term: str, inflections: bool = True) -> str:
    """An RE2-compatible pattern for one lower-case ``term``: whole words, spaces and hyphens
    between words interchangeable, and (``inflections``) the last word's inflections.
    Word boundaries only where the term starts or ends with a word character, so ``c++`` and
    ``.net`` still match.

    >>> term_pattern("cross-site scripting")
    '\\\\bcross[\\\\s-]+site[\\\\s-]+scripting(?:s|ed|ing|ers?)?\\\\b'
    >>> bool(re.fullmatch(term_pattern("escalate"), "escalating")), bool(re.search(term_pattern("c++"), "in c++ code"))
    (True, True)
    """
    word = term.strip().lower()
    if not word:
        raise ValueError("an empty keyword matches everything; remove it from the keyword list")
    parts = [p for p in re.split(r"[\s-]+", word) if p]
    head = r"\b" if re.match(r"\w", word[0]) else ""
    tail = r"\b" if re.search(r"[\w*]$", word) else ""
    last = parts[-1]
    if inflections and re.search(r"[a-z*]$", last) and re.fullmatch(r"[\w*]+", last):
        last_pattern = _inflections(last)
    else:
        last_pattern = re.escape(last.rstrip("*")) + (r"\w*" if last.endswith("*") else "")
    body = r"[\s-]+".join([re.escape(p) for p in parts[:-1]] + [last_pattern])
    return head + body + tail


def keyword_pattern(keywords: Iterable[str], inflections: bool = True) -> str:
    """One RE2-compatible alternation of every keyword (see :func:`term_pattern`), longest
    first so that a phrase counts once rather than as its words; empty keywords are skipped.

    >>> import re
    >>> len(re.findall(keyword_pattern(["privilege", "privilege escalation"]), "privilege escalation"))
    1
    >>> keyword_pattern([])
    ''
    """
    terms = sorted({k.strip().lower() for k in keywords if k.strip()}, key=lambda k: (-len(k), k))
    return "|".join(term_pattern(term, inflections) for term in terms)


def security_hits(text: str) -> int:
    """How many times ``text`` (any case) mentions a :data:`SECURITY_TERMS` term or one of
    its inflections: the count the ``cyber`` preset's router compares with its
    ``min_keyword_hits``.

    >>> security_hits("Attackers exploited the vulnerabilities before the patch.")
    3
    >>> security_hits("The recipe needs two eggs and a cup of flour.")
    0
    """
    return len(_security_regex().findall(text.lower()))


@functools.cache
def _security_regex() -> re.Pattern[str]:
    return re.compile(keyword_pattern(SECURITY_TERMS))
