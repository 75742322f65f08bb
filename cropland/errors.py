"""Errors a user can act on. Scripts print their message, without a traceback, and exit 2."""


class CroplandError(ValueError):
    """Bad input or configuration; the message names the file or key, what was expected and
    what to do."""
