"""Errors the user can act on, kept apart from programming errors.

The Processing layer turns ``UserError`` into a QgsProcessingException with the same text, so
every message must name the problem and the fix.
"""


class UserError(Exception):
    """Bad input, missing weights, checksum mismatch: something the user can fix."""


class Cancelled(Exception):
    """The user cancelled the run; partial outputs have been removed."""
