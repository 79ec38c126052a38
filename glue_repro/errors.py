"""The one error type users see: it names the file, line or field at fault."""


class GlueReproError(Exception):
    """A problem with the user's input or environment, explained in one line."""
