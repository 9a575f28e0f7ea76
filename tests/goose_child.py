"""Helpers of the tests that run ``goose`` in a child process: the LLM chain's YAML, and a
run killed with SIGKILL at a chosen point (the resume tests, local, on S3, on Ray).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

LLM_CHAIN = """
input: {input}
batch_size: {batch}
operators:
  - PrepareText: {{}}
  - MinHashDedup: {{}}
  - HeuristicMaskSpan: {{}}
  - CorpusDistractors: {{}}
  - FilterDistractors: {{min_distractors: 3}}
  - AssembleTasks: {{num_options: 4}}
  - ProbeDifficulty: {{rollouts: 2, max_tokens: 8}}
engine:
{engine}
"""
"""A config with every step of the LLM chain that the resume tests kill mid-way; fill
``input``, ``batch`` and ``engine`` (the indented lines of its ``engine:`` section)."""

DRIVER = "import sys; from goose.cli.main import main; main(sys.argv[1:], prog_name='goose')"
"""``python -c DRIVER run CONFIG --out OUT ...`` runs the goose command line."""


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with this checkout first on ``PYTHONPATH``."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, **(extra or {}), "PYTHONPATH": path}


def kill_when(command: Sequence[str], reached: Callable[[], bool], *, what: str, timeout: float = 120,
              environment: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start ``command``, SIGKILL it as soon as ``reached()`` is true, and return the ended
    child. Fails the test if the child ends first or ``what`` is not reached in ``timeout`` s."""
    import pytest

    child = subprocess.Popen(list(command), cwd=REPO, env=dict(environment or child_environment()),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not reached():
            if child.poll() is not None:
                pytest.fail(f"goose run ended before {what}:\n{child.stdout.read().decode()[-3000:]}")
            assert time.monotonic() < deadline, f"goose run never reached {what}"
            time.sleep(0.005)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    return child


def goose_command(*arguments: str) -> list[str]:
    """The command line of ``goose ARGUMENTS`` in a fresh interpreter."""
    return [sys.executable, "-c", DRIVER, *arguments]
