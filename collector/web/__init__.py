"""The collector's own web pages: server-rendered HTML under ``/ui/``, no JavaScript, no build step."""

from __future__ import annotations

from .routes import register

__all__ = ["register"]
