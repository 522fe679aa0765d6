"""Errors raised while reading map and scenario files."""


class MapFormatError(ValueError):
    """A map or scenario file is malformed; the message names the file, line and expectation."""

    def __init__(self, source: str, line: int, expected: str, found: str) -> None:
        self.source = source
        self.line = line
        super().__init__(f"{source}:{line}: expected {expected}, found {found!r}")
