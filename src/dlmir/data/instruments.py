"""Isolated notes of orchestral/band instruments (GM programs) across their real pitch ranges.

Each item is one note: an instrument class (:data:`INSTRUMENTS`), a MIDI pitch inside the instrument's
written range (sounding pitch, :data:`INSTRUMENTS` ``low``..``high``), and a dynamic (:data:`DYNAMICS`
velocities). The note is held ``note_duration`` seconds and followed by ``tail`` seconds of release.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlmir.data.synth import Piece
from dlmir.errors import ParameterError

__all__ = ["DYNAMICS", "INSTRUMENTS", "Instrument", "generate_note", "note_grid"]


@dataclass(frozen=True)
class Instrument:
    """An instrument class: GM program (0-based) and sounding MIDI range (inclusive)."""

    name: str
    program: int
    low: int
    high: int


INSTRUMENTS: dict[str, Instrument] = {
    i.name: i
    for i in (
        Instrument("piano", 0, 21, 108),  # A0..C8
        Instrument("acoustic_guitar", 24, 40, 84),  # E2..C6 (nylon)
        Instrument("violin", 40, 55, 100),  # G3..E7
        Instrument("viola", 41, 48, 88),  # C3..E6
        Instrument("cello", 42, 36, 76),  # C2..E5
        Instrument("contrabass", 43, 28, 67),  # E1..G4 (sounding)
        Instrument("trumpet", 56, 54, 84),  # F#3..C6 (sounding, Bb trumpet)
        Instrument("trombone", 57, 40, 72),  # E2..C5
        Instrument("tuba", 58, 28, 58),  # E1..Bb3
        Instrument("french_horn", 60, 34, 77),  # Bb1..F5 (sounding)
        Instrument("alto_sax", 65, 49, 81),  # Db3..A5 (sounding)
        Instrument("oboe", 68, 58, 91),  # Bb3..G6
        Instrument("bassoon", 70, 34, 75),  # Bb1..Eb5
        Instrument("clarinet", 71, 50, 94),  # D3..Bb6 (sounding, Bb clarinet)
        Instrument("flute", 73, 60, 96),  # C4..C7
    )
}
"""Instrument classes with GM program and sounding MIDI range (ranges from standard orchestration tables)."""

DYNAMICS: dict[str, int] = {"pp": 32, "mf": 80, "ff": 120}
"""MIDI velocities of the three dynamics."""


def note_grid(*, step: int = 1, instruments: list[str] | None = None) -> list[tuple[str, int, str]]:
    """All (instrument, MIDI pitch, dynamic) triples, pitches every ``step`` semitones of each range."""
    names = list(INSTRUMENTS) if instruments is None else instruments
    out = []
    for name in names:
        if name not in INSTRUMENTS:
            raise ParameterError(f"unknown instrument {name!r}; choose from {', '.join(INSTRUMENTS)}")
        inst = INSTRUMENTS[name]
        for pitch in range(inst.low, inst.high + 1, step):
            for dyn in DYNAMICS:
                out.append((name, pitch, dyn))
    return out


def generate_note(
    instrument: str,
    pitch: int,
    dynamic: str,
    *,
    note_duration: float = 1.5,
    tail: float = 0.5,
    velocity: int | None = None,
) -> Piece:
    """One isolated note as a :class:`~dlmir.data.synth.Piece` (label: the instrument class name).

    Parameters
    ----------
    instrument : key of :data:`INSTRUMENTS`.
    pitch : MIDI note number inside the instrument's range.
    dynamic : ``pp``, ``mf`` or ``ff``.
    note_duration, tail : seconds the note is held, and of release after it.
    velocity : MIDI velocity 1..127 (default: the dynamic's, :data:`DYNAMICS`); the builder's seed draws it
        around the dynamic's (:func:`dlmir.data.build.note_velocity`).
    """
    import pretty_midi

    if instrument not in INSTRUMENTS:
        raise ParameterError(f"unknown instrument {instrument!r}; choose from {', '.join(INSTRUMENTS)}")
    inst = INSTRUMENTS[instrument]
    if not inst.low <= pitch <= inst.high:
        raise ParameterError(f"pitch {pitch} is outside the {instrument} range {inst.low}..{inst.high}")
    if dynamic not in DYNAMICS:
        raise ParameterError(f"dynamic must be one of {', '.join(DYNAMICS)}, got {dynamic!r}")
    velocity = DYNAMICS[dynamic] if velocity is None else velocity
    if not (isinstance(velocity, int | np.integer) and 1 <= velocity <= 127):
        raise ParameterError(f"velocity must be a MIDI velocity 1..127, got {velocity!r}")
    midi = pretty_midi.PrettyMIDI()
    track = pretty_midi.Instrument(program=inst.program, name=instrument)
    track.notes.append(pretty_midi.Note(int(velocity), int(pitch), 0.0, float(note_duration)))
    midi.instruments.append(track)
    duration = round(note_duration + tail, 3)
    return Piece(
        midi=midi,
        intervals=np.array([[0.0, duration]]),
        labels=[instrument],
        duration=duration,
        programs=[inst.program],
    )
