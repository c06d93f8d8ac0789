"""pytest plugin that reports every test result of a run to a testrun collector."""

__version__ = "0.1.0"
