"""The exceptions condet raises for bad input.

The CLI turns every :class:`CondetError` into one line on stderr and a non-zero exit code, so
their messages must name the thing that is wrong and, where there is one, the fix.
"""


class CondetError(Exception):
    """Bad input or configuration that the user can fix."""
