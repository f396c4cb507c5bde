"""FluidSynth rendering: MIDI (``pretty_midi.PrettyMIDI``) through SoundFont instruments to mono audio.

Rendering uses libfluidsynth through ``pyfluidsynth`` and plays the MIDI events itself, sample-exact:
a note that starts at ``t`` seconds starts at sample ``round(t * sr)``. A :class:`Renderer` keeps every
soundfont it has loaded, so a worker that renders many items pays the load time once (MuseScore General,
a compressed ``.sf3``, takes ~16 s to load on this machine; TimGM6mb 0.1 s, FluidR3 GM 0.6 s).

Reverb and chorus are off (labels stay exact: no long tails), output is float (no dither), and the
synthesizer is reset before each item. FluidSynth's voice pool keeps a little state between items (the
first samples of a note can differ by ~1e-2 depending on what was rendered before), so renders are
identical for the same *sequence* of items in a fresh :class:`Renderer`; the dataset builders render
fixed chunks of items in fresh renderers, which makes a build reproducible whatever the worker count.

Soundfonts are named in :data:`SOUNDFONTS` (``timgm6mb``, ``fluidr3``, ``musescore`` (MuseScore General Lite),
``musescore-full``, ``fluidr3mono``, ``csound`` (sf_GMbank), ``opl3`` (an OPL3 FM emulation: one drum kit,
which FluidSynth substitutes for the others)); any path to an ``.sf2``/``.sf3`` file works too.
:func:`installed_soundfonts` lists those present, :func:`training_soundfonts` those other than a held-out one.
Debian's ``fluid-soundfont-gs`` is not registered: its ``FluidR3_GS.sf2`` holds only 33 GS sound effects.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dlmir.errors import AudioError, DependencyError, ParameterError

if TYPE_CHECKING:
    import pretty_midi

__all__ = [
    "SOUNDFONTS",
    "Piece",
    "Renderer",
    "SoundFont",
    "installed_soundfonts",
    "render",
    "resolve_soundfont",
    "training_soundfonts",
]


@dataclass(frozen=True)
class SoundFont:
    """A soundfont known by name: candidate paths (first existing wins) and the Debian package holding it."""

    name: str
    paths: tuple[str, ...]
    package: str
    family: str = ""
    """Soundfonts of one family share most of their samples (measured: log spectra of the same notes correlate
    0.93-1.0): ``fluidr3`` (FluidR3 GM, FluidR3 Mono, MuseScore General Lite/Full), ``timgm`` (TimGM6mb,
    csound's sf_GMbank), ``opl3`` (FM synthesis)."""


def _pretty_midi_timgm() -> str:
    try:
        import pretty_midi

        return str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")
    except ImportError:  # pragma: no cover - pretty_midi is a dependency
        return ""


SOUNDFONTS: dict[str, SoundFont] = {
    "timgm6mb": SoundFont(
        "timgm6mb", ("/usr/share/sounds/sf2/TimGM6mb.sf2", _pretty_midi_timgm()), "timgm6mb-soundfont", "timgm"
    ),
    "fluidr3": SoundFont("fluidr3", ("/usr/share/sounds/sf2/FluidR3_GM.sf2",), "fluid-soundfont-gm", "fluidr3"),
    # the small package ships only the Lite file; MuseScore_General.sf3 is an alternatives link that installing
    # musescore-general-soundfont turns to the Full file, so the Lite file comes first: "musescore" stays one sound
    "musescore": SoundFont(
        "musescore",
        ("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3", "/usr/share/sounds/sf3/MuseScore_General.sf3"),
        "musescore-general-soundfont-small",
        "fluidr3",
    ),
    "musescore-full": SoundFont(
        "musescore-full",
        ("/usr/share/sounds/sf3/MuseScore_General_Full.sf3",),
        "musescore-general-soundfont",
        "fluidr3",
    ),
    "fluidr3mono": SoundFont(
        "fluidr3mono",
        ("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3", "/usr/share/fluidr3mono-gm-soundfont/FluidR3Mono_GM.sf3"),
        "fluidr3mono-gm-soundfont",
        "fluidr3",
    ),
    "csound": SoundFont(
        "csound",
        ("/usr/share/sounds/sf2/sf_GMbank.sf2", "/usr/share/samples/sf_GMbank.sf2"),
        "csound-soundfont",
        "timgm",
    ),
    "opl3": SoundFont("opl3", ("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2",), "opl3-soundfont", "opl3"),
}


def installed_soundfonts() -> list[str]:
    """Names of the :data:`SOUNDFONTS` whose file is installed here, in registry order."""
    return [name for name, sf in SOUNDFONTS.items() if any(p and Path(p).is_file() for p in sf.paths)]


def training_soundfonts(test_soundfont: str = "fluidr3", *, exclude_family: bool = False) -> list[str]:
    """The installed registry soundfonts other than the held-out ``test_soundfont`` (same file excluded too).

    ``exclude_family=True`` also leaves out every soundfont of its :attr:`SoundFont.family` (soundfonts sharing
    samples: FluidR3 GM, FluidR3 Mono and MuseScore General share most of theirs), for a strictly held-out test.
    """
    _, test_path = resolve_soundfont(test_soundfont)
    test_family = next((sf.family for sf in SOUNDFONTS.values() if str(test_path) in sf.paths), None)
    out = []
    for name in installed_soundfonts():
        if resolve_soundfont(name)[1].resolve() == test_path.resolve():
            continue
        if exclude_family and test_family is not None and SOUNDFONTS[name].family == test_family:
            continue
        out.append(name)
    return out


def resolve_soundfont(soundfont: str | os.PathLike[str]) -> tuple[str, Path]:
    """Name and path of a soundfont given by registry name (:data:`SOUNDFONTS`) or by path.

    Returns
    -------
    name : the registry name, or the file stem for a path.
    path : an existing ``.sf2``/``.sf3`` file.

    Raises
    ------
    DependencyError : a registry soundfont is not installed (the message names the Debian package).
    ParameterError : a path that does not exist, or an unknown name.
    """
    key = str(soundfont)
    if key.lower() in SOUNDFONTS:
        sf = SOUNDFONTS[key.lower()]
        for p in sf.paths:
            if p and Path(p).is_file():
                return sf.name, Path(p)
        raise DependencyError(
            f"soundfont {sf.name!r} not found (looked in {', '.join(p for p in sf.paths if p)}); "
            f"install it with: sudo apt-get install {sf.package}"
        )
    path = Path(key).expanduser()
    if path.suffix.lower() in (".sf2", ".sf3") or os.sep in key:
        if not path.is_file():
            raise ParameterError(f"soundfont file {path} does not exist; give a path to an .sf2/.sf3 file")
        return path.stem, path
    raise ParameterError(f"unknown soundfont {key!r}; use one of {', '.join(SOUNDFONTS)} or a path to an .sf2/.sf3")


def _import_fluidsynth():  # noqa: ANN202 - module object
    try:
        import fluidsynth  # pyfluidsynth
    except (ImportError, OSError) as exc:  # OSError: the shared library libfluidsynth is missing
        raise DependencyError(
            "rendering needs FluidSynth: install the library with `sudo apt-get install fluidsynth` "
            f"(libfluidsynth3) and the binding with `pip install pyfluidsynth` ({type(exc).__name__}: {exc})"
        ) from None
    if not hasattr(fluidsynth, "Synth"):
        raise DependencyError(
            "the installed 'fluidsynth' module is not pyfluidsynth; run `pip uninstall fluidsynth && "
            "pip install pyfluidsynth`"
        )
    return fluidsynth


def _write_float_function(fluidsynth):  # noqa: ANN001, ANN202 - ctypes function
    fn = fluidsynth._fl.fluid_synth_write_float
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    fn.argtypes += [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    return fn


class Renderer:
    """Render MIDI through soundfonts with one FluidSynth synthesizer; soundfonts are loaded once.

    Parameters
    ----------
    sr : sample rate of the output in Hz.
    gain : FluidSynth master gain (output is peak-normalised anyway; this only sets the int16 headroom).
    polyphony : maximum simultaneous voices.

    Examples
    --------
    >>> r = Renderer(sr=22050)
    >>> y = r.render(pm, "timgm6mb")          # (samples,) float32, peak 0.9
    """

    def __init__(self, *, sr: int = 22050, gain: float = 0.5, polyphony: int = 256) -> None:
        if sr <= 0:
            raise ParameterError(f"sr must be positive, got {sr}")
        fluidsynth = _import_fluidsynth()
        self.sr = int(sr)
        self._synth = fluidsynth.Synth(samplerate=float(sr), gain=float(gain))
        self._synth.setting("synth.reverb.active", 0)
        self._synth.setting("synth.chorus.active", 0)
        self._synth.setting("synth.polyphony", int(polyphony))
        self._sfids: dict[Path, int] = {}
        self._written = 0
        self._write_float = _write_float_function(fluidsynth)

    def _samples(self, n: int) -> np.ndarray:
        """``n`` stereo frames as float32 ``(n, 2)``; float output has no dither, so renders repeat exactly."""
        buf = np.zeros((n, 2), dtype=np.float32)
        self._written += n
        ptr = buf.ctypes.data_as(ctypes.c_void_p)
        self._write_float(self._synth.synth, n, ptr, 0, 2, ptr, 1, 2)
        return buf

    def _sfid(self, path: Path) -> int:
        if path not in self._sfids:
            sfid = self._synth.sfload(str(path))
            if sfid < 0:
                raise AudioError(f"{path}: FluidSynth cannot load this soundfont (corrupt or not .sf2/.sf3)")
            self._sfids[path] = sfid
        return self._sfids[path]

    def select_program(self, channel: int, sfid: int, program: int, *, drum: bool) -> int:
        """Select ``program`` (a GM program, or a GM2 drum kit on bank 128 when ``drum``) on ``channel``; returns the
        program selected. A soundfont without that preset (``opl3`` has one drum kit) falls back to program 0 of
        the same soundfont, so no channel ever sounds with another soundfont's preset or keeps a stale one."""
        bank = 128 if drum else 0
        if self._synth.sfpreset_name(sfid, bank, int(program)) is None:
            program = 0
        self._synth.program_select(channel, sfid, bank, int(program))
        return int(program)

    def render(
        self,
        midi: pretty_midi.PrettyMIDI,
        soundfont: str | os.PathLike[str] = "timgm6mb",
        *,
        duration: float | None = None,
        tail: float = 1.0,
        peak: float | None = 0.9,
    ) -> np.ndarray:
        """Render ``midi`` to mono audio.

        Parameters
        ----------
        midi : the score; each instrument plays on its own MIDI channel (drums on channel 10), with its pitch
            bends. At most 15 pitched instruments plus drums.
        soundfont : registry name or path (see :func:`resolve_soundfont`).
        duration : output length in seconds (default: the last note-off plus ``tail``).
        tail : seconds of release after the last note-off when ``duration`` is not given.
        peak : normalise the absolute peak to this value (``None``: raw FluidSynth level, in [-1, 1]).

        Returns
        -------
        y : np.ndarray, float32, shape ``(round(duration * sr),)``.

        Raises
        ------
        AudioError : the render is silent (no notes, or programs missing from the soundfont).
        """
        _, path = resolve_soundfont(soundfont)
        sfid = self._sfid(path)
        synth = self._synth
        for ch in range(16):
            synth.all_sounds_off(ch)
        synth.system_reset()
        # flush: voices of the previous item die, and FluidSynth's 64-frame block phase restarts at 0,
        # so an item renders identically whatever was rendered before it
        self._samples(8192 + (-self._written) % 64)
        pitched = [inst for inst in midi.instruments if not inst.is_drum]
        if len(pitched) > 15:
            raise ParameterError(f"at most 15 pitched instruments can be rendered at once, got {len(pitched)}")
        # (sample, order, channel, a, b): at one sample note-offs first (0), then pitch bends (1), then note-ons (2)
        events: list[tuple[int, int, int, int, int]] = []
        free = [c for c in range(16) if c != 9]  # channel 10 (index 9) is the GM drum channel
        for inst in midi.instruments:
            ch = 9 if inst.is_drum else free.pop(0)
            self.select_program(ch, sfid, int(inst.program), drum=inst.is_drum)
            synth.pitch_bend(ch, 0)
            for n in inst.notes:
                events.append((round(n.start * self.sr), 2, ch, int(n.pitch), int(n.velocity)))
                events.append((round(n.end * self.sr), 0, ch, int(n.pitch), 0))
            for pb in inst.pitch_bends:
                events.append((round(pb.time * self.sr), 1, ch, int(pb.pitch), 0))
        events.sort()
        end = max((e[0] for e in events), default=0)
        n_samples = round(duration * self.sr) if duration is not None else end + round(tail * self.sr)
        if n_samples <= 0:
            raise ParameterError(f"nothing to render: duration {n_samples / self.sr:.3f} s")
        chunks: list[np.ndarray] = []
        pos = 0
        for sample, kind, ch, a, b in events:
            if sample >= n_samples:
                break
            if sample > pos:
                chunks.append(self._samples(sample - pos))
                pos = sample
            if kind == 2:
                synth.noteon(ch, a, b)
            elif kind == 1:
                synth.pitch_bend(ch, a)
            else:
                synth.noteoff(ch, a)
        if n_samples > pos:
            chunks.append(self._samples(n_samples - pos))
        stereo = np.concatenate(chunks)
        y = stereo.mean(axis=1)
        top = float(np.max(np.abs(y))) if y.size else 0.0
        if top < 1e-4:
            raise AudioError(
                f"rendering with {path.name} produced silence (peak {top:.2e}); check the MIDI has notes "
                "and the soundfont has the GM programs used"
            )
        if peak is not None:
            y = y * np.float32(peak / top)
        return y.astype(np.float32)

    def close(self) -> None:
        """Free the synthesizer."""
        if self._synth is not None:
            self._synth.delete()
            self._synth = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_RENDERERS: dict[int, Renderer] = {}


def render(
    midi: pretty_midi.PrettyMIDI,
    soundfont: str | os.PathLike[str] = "timgm6mb",
    *,
    sr: int = 22050,
    duration: float | None = None,
    tail: float = 1.0,
    peak: float | None = 0.9,
) -> np.ndarray:
    """Render ``midi`` with a per-process cached :class:`Renderer` (soundfonts stay loaded between calls).

    See :meth:`Renderer.render`; returns float32 ``(samples,)`` at ``sr`` Hz.
    """
    if sr not in _RENDERERS:
        _RENDERERS[sr] = Renderer(sr=sr)
    return _RENDERERS[sr].render(midi, soundfont, duration=duration, tail=tail, peak=peak)


@dataclass
class Piece:
    """A labelled score ready to render: the MIDI, its chord annotation and its length.

    Attributes
    ----------
    midi : ``pretty_midi.PrettyMIDI``; times in seconds.
    intervals : np.ndarray float64 ``(n, 2)``, start/end of each label in seconds, contiguous from 0.
    labels : ``n`` Harte labels (``N`` for silence or drums only).
    duration : seconds of audio to render (covers every note-off plus release).
    programs : GM programs used (pitched ones; drums are not listed).
    """

    midi: pretty_midi.PrettyMIDI
    intervals: np.ndarray
    labels: list[str]
    duration: float
    programs: list[int]
