"""junit-upload and the client pieces shared with the pytest plugin."""

__version__ = "0.1.0"
