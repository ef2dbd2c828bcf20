"""Errors a user can act on. The CLI prints them as one line; the app shows them in the page."""

from __future__ import annotations


class DsdmError(Exception):
    """Base class for user-facing errors: the message says what is wrong and where."""


class InputError(DsdmError):
    """Bad user input: names the file, line or row, and field."""


class CatalogError(DsdmError):
    """The catalog cannot be opened or used (version mismatch, lock held too long, ...)."""


class NotFoundError(DsdmError):
    """A named pool, target task, selection or run does not exist."""
