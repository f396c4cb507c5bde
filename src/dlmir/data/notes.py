"""Note lists: the exact notes of a piece (onset, offset, MIDI pitch, velocity), read, written, and rolled.

Every piece dlmir renders comes from MIDI, so its notes are known exactly. :class:`NoteList` holds them as
four parallel arrays; :func:`notes_from_midi` takes them from a ``pretty_midi.PrettyMIDI`` (drums excluded by
default), :func:`read_notes` from a MIDI file or a text file (onset, offset, pitch[, velocity]; seconds or
milliseconds; MIDI numbers or Hz), :func:`write_notes_csv` and :func:`write_midi` write them, and
:func:`piano_roll` turns them into frame-level targets (active frames, onsets, offsets) on librosa's centred
frame grid. :func:`roll_to_multipitch` gives a roll in the form ``mir_eval.multipitch`` takes.

A dataset item's notes live beside its audio as ``labels/<id>.notes.csv`` (header ``onset,offset,pitch,velocity``,
seconds with 4 decimals).

Examples
--------
>>> import numpy as np
>>> from dlmir.data.notes import NoteList, piano_roll
>>> notes = NoteList(onset=np.array([0.0, 0.5]), offset=np.array([0.5, 1.0]), pitch=np.array([60, 64]),
...                  velocity=np.array([100, 90]))
>>> roll = piano_roll(notes, n_frames=5, frame_rate=4.0)
>>> roll["frames"][60 - 21].tolist(), roll["frames"][64 - 21].tolist()
([1.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, 0.0])
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dlmir.errors import AnnotationError, ParameterError

if TYPE_CHECKING:
    import pretty_midi

__all__ = [
    "MIDI_EXTENSIONS",
    "NOTES_SUFFIX",
    "TEXT_EXTENSIONS",
    "NoteList",
    "notes_from_midi",
    "piano_roll",
    "read_notes",
    "roll_to_multipitch",
    "write_midi",
    "write_notes_csv",
]

NOTES_SUFFIX = ".notes.csv"
MIDI_EXTENSIONS: tuple[str, ...] = (".mid", ".midi")
TEXT_EXTENSIONS: tuple[str, ...] = (".csv", ".tsv", ".txt", ".notes")
DEFAULT_VELOCITY = 100


@dataclass(frozen=True)
class NoteList:
    """Notes as parallel arrays, sorted by ``(onset, pitch)``.

    Attributes
    ----------
    onset, offset : np.ndarray, float64, shape (n,)
        Start and end of each note in seconds (``offset >= onset``).
    pitch : np.ndarray, int64, shape (n,)
        MIDI note number (60 = C4, 69 = A4 = 440 Hz).
    velocity : np.ndarray, int64, shape (n,)
        MIDI velocity, 1..127.

    The constructor converts and validates its inputs (any sequences of equal length) and sorts the notes.
    """

    onset: np.ndarray
    offset: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray

    def __post_init__(self) -> None:
        onset = np.asarray(self.onset, dtype=np.float64).reshape(-1)
        offset = np.asarray(self.offset, dtype=np.float64).reshape(-1)
        pitch = np.asarray(np.rint(np.asarray(self.pitch, dtype=np.float64)), dtype=np.int64).reshape(-1)
        velocity = np.asarray(np.rint(np.asarray(self.velocity, dtype=np.float64)), dtype=np.int64).reshape(-1)
        n = len(onset)
        if not len(offset) == len(pitch) == len(velocity) == n:
            raise ParameterError(
                f"NoteList arrays must have one length: onset {n}, offset {len(offset)}, "
                f"pitch {len(pitch)}, velocity {len(velocity)}"
            )
        if n and not (np.all(np.isfinite(onset)) and np.all(np.isfinite(offset))):
            raise ParameterError("NoteList onsets and offsets must be finite seconds")
        if n and np.any(offset < onset):
            i = int(np.argmax(offset < onset))
            raise ParameterError(f"NoteList note {i} ends before it starts: onset {onset[i]}, offset {offset[i]}")
        velocity = np.clip(velocity, 1, 127)
        order = np.lexsort((pitch, onset))
        for name, arr in (("onset", onset), ("offset", offset), ("pitch", pitch), ("velocity", velocity)):
            arr = arr[order]
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    def __len__(self) -> int:
        return len(self.onset)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NoteList):
            return NotImplemented
        return (
            len(self) == len(other)
            and np.array_equal(self.onset, other.onset)
            and np.array_equal(self.offset, other.offset)
            and np.array_equal(self.pitch, other.pitch)
            and np.array_equal(self.velocity, other.velocity)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        span = f", {self.onset.min():.3f}-{self.offset.max():.3f} s" if len(self) else ""
        return f"NoteList({len(self)} notes{span})"

    @classmethod
    def empty(cls) -> NoteList:
        """A list with no notes."""
        return cls(np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64))

    @classmethod
    def concatenate(cls, lists: list[NoteList] | tuple[NoteList, ...]) -> NoteList:
        """All notes of ``lists`` in one (sorted) list."""
        if not lists:
            return cls.empty()
        return cls(
            np.concatenate([n.onset for n in lists]),
            np.concatenate([n.offset for n in lists]),
            np.concatenate([n.pitch for n in lists]),
            np.concatenate([n.velocity for n in lists]),
        )

    def shifted(self, seconds: float) -> NoteList:
        """Every note moved by ``seconds`` (later when positive)."""
        return NoteList(self.onset + seconds, self.offset + seconds, self.pitch, self.velocity)

    def scaled(self, factor: float) -> NoteList:
        """Every time multiplied by ``factor`` (> 0), e.g. a production's ``time_scale``."""
        if not factor > 0:
            raise ParameterError(f"scaled: factor must be positive, got {factor}")
        return NoteList(self.onset * factor, self.offset * factor, self.pitch, self.velocity)

    def transposed(self, semitones: int) -> NoteList:
        """Every pitch moved by ``semitones``."""
        return NoteList(self.onset, self.offset, self.pitch + int(semitones), self.velocity)

    def clipped(self, t0: float, t1: float) -> NoteList:
        """The notes sounding in ``[t0, t1)`` seconds, cut to it and re-timed from ``t0`` (an excerpt's notes)."""
        if not t1 > t0:
            raise ParameterError(f"clipped: need t1 > t0, got t0={t0}, t1={t1}")
        keep = (self.onset < t1) & ((self.offset > t0) | ((self.offset == self.onset) & (self.onset >= t0)))
        onset = np.maximum(self.onset[keep], t0) - t0
        offset = np.minimum(self.offset[keep], t1) - t0
        return NoteList(onset, offset, self.pitch[keep], self.velocity[keep])

    def pitch_hz(self) -> np.ndarray:
        """Each note's fundamental frequency in Hz (``librosa.midi_to_hz``), float64 ``(n,)``."""
        import librosa

        return np.asarray(librosa.midi_to_hz(self.pitch), dtype=np.float64)

    @property
    def duration(self) -> float:
        """The end of the last note in seconds (0 for an empty list)."""
        return float(self.offset.max()) if len(self) else 0.0


def notes_from_midi(
    midi: pretty_midi.PrettyMIDI | str | os.PathLike[str],
    *,
    time_scale: float = 1.0,
    include_drums: bool = False,
) -> NoteList:
    """The notes of a MIDI file or ``pretty_midi.PrettyMIDI``, all instruments together.

    Parameters
    ----------
    midi : pretty_midi.PrettyMIDI, str or path
        The MIDI (a path is read with ``pretty_midi``).
    time_scale : float > 0
        Times are multiplied by it: the ``time_scale`` of a production that stretched the rendered audio.
    include_drums : bool
        Keep notes of drum instruments (channel 10), whose "pitches" name drums, not notes. Off by default.
    """
    import pretty_midi

    if not isinstance(midi, pretty_midi.PrettyMIDI):
        midi = _load_midi(Path(midi))
    onset, offset, pitch, velocity = [], [], [], []
    for inst in midi.instruments:
        if inst.is_drum and not include_drums:
            continue
        for note in inst.notes:
            onset.append(note.start)
            offset.append(max(note.end, note.start))
            pitch.append(note.pitch)
            velocity.append(note.velocity)
    if not onset:
        return NoteList.empty()
    notes = NoteList(np.array(onset), np.array(offset), np.array(pitch), np.array(velocity))
    return notes if time_scale == 1.0 else notes.scaled(time_scale)


def _load_midi(path: Path) -> pretty_midi.PrettyMIDI:
    import pretty_midi

    if not path.is_file():
        raise AnnotationError(f"{path}: MIDI file not found")
    try:
        return pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # pretty_midi/mido raise many kinds on a bad file
        raise AnnotationError(f"{path}: not a readable MIDI file ({type(exc).__name__}: {exc})") from exc


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def read_notes(path: str | os.PathLike[str], *, unit: str = "auto") -> NoteList:
    """Read notes from a MIDI file or a text file of ``onset, offset, pitch[, velocity]`` rows.

    Parameters
    ----------
    path : str or path
        ``.mid``/``.midi``: read with ``pretty_midi`` (drums excluded). Anything else (``.csv``, ``.tsv``,
        ``.txt``, ``.notes``, ...) is read as text: one note per line, fields separated by commas, tabs or
        spaces, an optional header line (a first line that is not numbers), blank lines and ``#`` comments
        skipped. Velocity defaults to 100 when absent.
    unit : {"auto", "s", "ms"}
        Unit of the text file's times. ``"auto"`` reads milliseconds when the median note is 10 units or longer
        or the last offset is past 3600 (no plausible piece has ten-second median notes or lasts hours), and
        seconds otherwise. Ignored for MIDI.

    The pitch column holds MIDI numbers, or frequencies in Hz when any value is not an integer or is above 127
    (converted with ``round(librosa.hz_to_midi)``; a file of integer Hz values all at most 127 is read as MIDI).

    Raises
    ------
    AnnotationError
        The file is missing or malformed; the message names the file and line.
    """
    path = Path(path)
    if unit not in ("auto", "s", "ms"):
        raise ParameterError(f"read_notes: unit must be 'auto', 's' or 'ms', got {unit!r}")
    if path.suffix.lower() in MIDI_EXTENSIONS:
        return notes_from_midi(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: note file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: not a text note file (is it MIDI? name it .mid)") from exc
    rows: list[list[float]] = []
    first = True
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = [f for f in re.split(r"[,\s;]+", line) if f]
        numeric = [bool(_NUMBER.match(f)) for f in fields]
        if first and not all(numeric):
            first = False
            continue  # header
        first = False
        if not all(numeric):
            bad = fields[numeric.index(False)]
            raise AnnotationError(f"{path}, line {lineno}: {bad!r} is not a number (expected onset, offset, pitch)")
        if len(fields) < 3:
            raise AnnotationError(
                f"{path}, line {lineno}: expected onset, offset, pitch[, velocity], got {len(fields)} fields"
            )
        values = [float(f) for f in fields[:4]]
        if values[1] < values[0]:
            raise AnnotationError(f"{path}, line {lineno}: offset {fields[1]} is before onset {fields[0]}")
        if values[2] <= 0:
            raise AnnotationError(f"{path}, line {lineno}: pitch {fields[2]} must be positive (MIDI number or Hz)")
        rows.append(values if len(values) == 4 else values + [float(DEFAULT_VELOCITY)])
    if not rows:
        return NoteList.empty()
    arr = np.array(rows, dtype=np.float64)
    onset, offset, pitch, velocity = arr.T
    if unit == "auto":
        unit = "ms" if (np.median(offset - onset) >= 10.0 or offset.max() > 3600.0) else "s"
    if unit == "ms":
        onset, offset = onset / 1000.0, offset / 1000.0
    if np.any(pitch != np.round(pitch)) or np.any(pitch > 127):
        import librosa

        pitch = np.round(librosa.hz_to_midi(pitch))
    return NoteList(onset, offset, pitch.astype(np.int64), np.clip(np.round(velocity), 1, 127).astype(np.int64))


def write_notes_csv(path: str | os.PathLike[str], notes: NoteList) -> Path:
    """Write ``notes`` as CSV: header ``onset,offset,pitch,velocity``, times in seconds with 4 decimals.

    Returns the path written (parent folders are created).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["onset,offset,pitch,velocity"]
    lines += [
        f"{a:.4f},{b:.4f},{int(p)},{int(v)}"
        for a, b, p, v in zip(notes.onset, notes.offset, notes.pitch, notes.velocity, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_midi(path: str | os.PathLike[str] | None, notes: NoteList, *, program: int = 0) -> pretty_midi.PrettyMIDI:
    """The notes as a one-instrument ``pretty_midi.PrettyMIDI`` (GM ``program``, 0 = piano), written to ``path``
    unless it is ``None``. MIDI stores times in ticks, so a round trip is exact to about 1 ms."""
    import pretty_midi

    if not 0 <= int(program) <= 127:
        raise ParameterError(f"write_midi: program must be a GM program number 0..127, got {program}")
    midi = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=int(program))
    for a, b, p, v in zip(notes.onset, notes.offset, notes.pitch, notes.velocity, strict=True):
        if not 0 <= p <= 127:
            raise ParameterError(f"write_midi: pitch {p} is outside MIDI's 0..127")
        inst.notes.append(pretty_midi.Note(velocity=int(v), pitch=int(p), start=float(a), end=float(b)))
    midi.instruments.append(inst)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        midi.write(str(path))
    return midi


def piano_roll(
    notes: NoteList,
    n_frames: int,
    frame_rate: float,
    *,
    min_pitch: int = 21,
    n_pitches: int = 88,
    onset_frames: int = 1,
) -> dict[str, np.ndarray]:
    """Frame-level targets of ``notes``: active frames, onsets and offsets per pitch.

    Parameters
    ----------
    notes : NoteList
        Times in seconds from the start of the audio the frames cover.
    n_frames : int
        Number of frames (for librosa's centred frames of ``samples`` audio: ``1 + samples // hop_length``).
    frame_rate : float
        Frames per second (``sr / hop_length``). Frame ``k`` is centred at ``k / frame_rate`` seconds.
    min_pitch, n_pitches : int
        Row ``i`` is MIDI pitch ``min_pitch + i`` (default: the piano's 88 keys, A0=21 to C8=108); notes
        outside are dropped.
    onset_frames : int >= 1
        Frames marked per onset (and per offset): the nearest frame and ``onset_frames - 1`` after it.

    Returns
    -------
    dict with float32 arrays ``frames``, ``onsets``, ``offsets``, each ``(n_pitches, n_frames)`` of 0 and 1.
    A note is active in the frames whose centre lies in ``[onset, offset)`` (at least its onset frame);
    its onset (offset) marks the frame nearest the onset (offset) time. Marks beyond the grid are dropped,
    so a note given with a negative onset (it began before the frames, e.g. ``notes.shifted(-t0)`` of an
    excerpt from ``t0``) is active from frame 0 without an onset mark.
    """
    n_frames, n_pitches, onset_frames = int(n_frames), int(n_pitches), int(onset_frames)
    if n_frames < 0 or n_pitches < 1 or onset_frames < 1 or not frame_rate > 0:
        raise ParameterError(
            f"piano_roll: need n_frames >= 0, n_pitches >= 1, onset_frames >= 1, frame_rate > 0; got "
            f"{n_frames}, {n_pitches}, {onset_frames}, {frame_rate}"
        )
    frames = np.zeros((n_pitches, n_frames), np.float32)
    onsets = np.zeros_like(frames)
    offsets = np.zeros_like(frames)
    row = notes.pitch - int(min_pitch)
    keep = (row >= 0) & (row < n_pitches)
    for r, a, b in zip(row[keep], notes.onset[keep], notes.offset[keep], strict=True):
        start = int(np.ceil(a * frame_rate - 1e-9))
        stop = int(np.ceil(b * frame_rate - 1e-9))
        k_on = int(np.floor(a * frame_rate + 0.5))
        k_off = int(np.floor(b * frame_rate + 0.5))
        if stop <= start:
            start, stop = k_on, k_on + 1
        frames[r, max(start, 0) : max(min(stop, n_frames), 0)] = 1.0
        onsets[r, max(k_on, 0) : max(min(k_on + onset_frames, n_frames), 0)] = 1.0
        offsets[r, max(k_off, 0) : max(min(k_off + onset_frames, n_frames), 0)] = 1.0
    return {"frames": frames, "onsets": onsets, "offsets": offsets}


def roll_to_multipitch(
    frames_roll: np.ndarray | Any, frame_rate: float, min_pitch: int = 21, *, threshold: float = 0.5
) -> tuple[np.ndarray, list[np.ndarray]]:
    """A roll ``(n_pitches, n_frames)`` (targets or activations) as ``mir_eval.multipitch`` input.

    Returns ``(times, freqs)``: ``times`` float64 ``(n_frames,)`` = ``k / frame_rate`` seconds, and per frame
    a float64 array of the Hz of the pitches whose value is above ``threshold`` (row ``i`` = MIDI
    ``min_pitch + i``).
    """
    import librosa

    roll = np.asarray(frames_roll.detach().cpu() if hasattr(frames_roll, "detach") else frames_roll)
    if roll.ndim != 2:
        raise ParameterError(f"roll_to_multipitch: expected (n_pitches, n_frames), got shape {roll.shape}")
    hz = np.asarray(librosa.midi_to_hz(np.arange(roll.shape[0]) + int(min_pitch)), dtype=np.float64)
    times = np.arange(roll.shape[1], dtype=np.float64) / float(frame_rate)
    active = roll > threshold
    freqs = [hz[active[:, k]] for k in range(roll.shape[1])]
    return times, freqs
