"""User-facing errors.

Every problem a user can fix (a bad file, a missing key, an unreachable server) is raised as an
:class:`InputError` whose message says *what* was wrong, *where* (file, line, key) and *what would be
right*. The CLI prints the message as one paragraph and exits with status 2, before any model request
is sent; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

EXIT_INPUT_ERROR = 2


class InputError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)
