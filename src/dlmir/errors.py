"""One family of errors for everything dlmir raises on purpose.

Every message says what was wrong, with which file or parameter, and what to do.
Catch :class:`DlmirError` to catch them all.
"""

from __future__ import annotations


class DlmirError(Exception):
    """Root of every error dlmir raises deliberately."""


class ParameterError(DlmirError, ValueError):
    """A parameter has an invalid value (negative hop, fmax above Nyquist, ...)."""


class AudioError(DlmirError):
    """Audio could not be read, or is unusable (missing, undecodable, empty, NaN, too short)."""


class AnnotationError(DlmirError):
    """An annotation file (.lab, JAMS) is malformed; the message names file and line."""


class DependencyError(DlmirError):
    """A required external program or resource (synthesiser, soundfont) is missing."""
