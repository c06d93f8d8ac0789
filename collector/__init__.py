"""testrun collector: stores the test runs that CI jobs send, one project per token."""

__version__ = "0.1.0"
