"""The one exception type for a user's mistake or bad input.

The CLI prints its message (which names the file and the problem) and exits with status 2,
without a traceback. Anything else escaping is a bug and keeps its traceback.
"""


class SvhnEraseError(Exception):
    """Bad input or a bad request: the message says which file and what is wrong."""
