"""UserError / Cancelled for the pansharpening core.

The project convention is ``models.errors.UserError`` and ``models.errors.Cancelled``; until that
module exists in the tree we fall back to local classes so this package imports on its own.
"""
try:  # pragma: no cover - depends on what else is merged
    from ..errors import Cancelled, UserError  # noqa: F401
except ImportError:  # pragma: no cover
    class UserError(ValueError):
        """A problem the user can fix (bad sizes, unknown sensor, ...)."""

    class Cancelled(RuntimeError):
        """The user cancelled the job."""
