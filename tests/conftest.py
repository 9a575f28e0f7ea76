"""Settings for the whole test session (tests/ and the doctests under goose/)."""

import os

# Ray Data's usage-metrics poller (on unless usage stats are off) asks a Prometheus server
# every 10 s from a thread in the driver; with none there it logs each failure with its
# traceback, and CPython 3.11 formats a traceback with ``ast.parse``. Two threads in
# ``ast.parse`` at once make 3.11 raise a false SystemError (python/cpython#106905): it
# failed pytest's own assertion rewriting at the end of a CI run. Tests have no network to
# report usage to anyway.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
