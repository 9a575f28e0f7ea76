"""Shared set-up of the vLLM back-end tests (run with the .venv-vllm interpreter, see
scripts/vllm_cpu_env.sh): the tests folder on ``sys.path`` so the modules here can
``from engine_conformance import check_engine``, and a "vllm" section at the end of the run
with the start-up time and tokens/s.

This folder is deliberately not called ``vllm``: with ``tests/`` on ``sys.path`` (pytest puts
it there for the modules directly in ``tests/``) a folder of that name imports as a namespace
package ``vllm`` wherever the real one is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS_DIR = str(Path(__file__).resolve().parents[1])
if TESTS_DIR not in sys.path:
    sys.path.append(TESTS_DIR)

_REPORT: list[str] = []


@pytest.fixture(scope="session")
def vllm_report() -> list[str]:
    """Lines (start-up time, tokens/s) printed at the end of the run, even under -q."""
    return _REPORT


def pytest_terminal_summary(terminalreporter):
    if _REPORT:
        terminalreporter.section("vllm")
        for line in _REPORT:
            terminalreporter.write_line(line)
