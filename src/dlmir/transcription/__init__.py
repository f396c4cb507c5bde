"""Multi-pitch estimation and note transcription: audio -> per-pitch activations -> notes.

- :class:`HarmonicSalience` (:mod:`dlmir.transcription.salience`): the designed baseline, a cascade of the layer
  vocabulary (CQT -> log -> harmonic summation -> fundamental gate) giving a salience over MIDI 21-108.
- :func:`notes_from_activations` (:mod:`dlmir.transcription.decode`): onset-gated note decoding.
- :func:`transcribe`, :func:`transcribe_file`, :class:`NoteTranscriber` (:mod:`dlmir.transcription.api`): notes
  of audio with the designed baseline or a learned transcriber (``dlmir.models.Transcriber``), streamed in blocks.
- :mod:`dlmir.transcription.evaluate`: mir_eval multipitch and note scores (``dlmir evaluate transcription``).

Notes are :class:`dlmir.data.notes.NoteList` s; write them with :func:`dlmir.data.notes.write_midi` and
:func:`dlmir.data.notes.write_notes_csv`.
"""

from dlmir.transcription.api import (
    Activations,
    NoteTranscriber,
    designed_transcriber,
    transcribe,
    transcribe_file,
)
from dlmir.transcription.decode import notes_from_activations
from dlmir.transcription.salience import FundamentalGate, HarmonicSalience, harmonic_matrix, salience_activations

__all__ = [
    "Activations",
    "FundamentalGate",
    "HarmonicSalience",
    "NoteTranscriber",
    "designed_transcriber",
    "harmonic_matrix",
    "notes_from_activations",
    "salience_activations",
    "transcribe",
    "transcribe_file",
]
