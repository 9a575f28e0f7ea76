"""The ``goose`` command line: ``goose demo``, ``goose run``, ``goose show``."""
