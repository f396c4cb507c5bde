"""Peak memory and time of ``dlmir features --kind cqt``, ``dlmir chroma`` and ``dlmir chords`` on long recordings.

Synthesises 44.1 kHz stereo 16-bit WAV files (written in 10 s pieces, never held whole in memory) of the given
lengths, runs each command in its own subprocess and prints its peak resident set size (``ru_maxrss`` of that
child, from :func:`os.wait4`) and wall time. With ``--baseline`` it also runs the one-shot path (decode the
whole file with :func:`dlmir.io.load`, one front-end call, ``np.save``) for comparison.

The commands: ``features --kind cqt``, ``chroma --model default``, ``chords --model default`` (learned chroma +
templates) and ``chords --model chordnet`` (the shipped ChordNet; its GRU runs once over the whole file's frames);
``--only`` picks some of them by a word of their name (e.g. ``--only chords``). ``--threads N`` sets
``OMP_NUM_THREADS=N`` for the children (torch's intra-op threads): on a CPU busy with other work, 1 thread can be
several times faster than 2. The Markdown table is printed and written to ``benchmarks/results/memory.md``
(``--results``; ``''``: not written). The aim of issue 10 is a 1-hour file under 1 GB peak RSS.

    .venv/bin/python benchmarks/memory.py --minutes 10 60 [--baseline] [--dir /tmp/dlmir-memory]
    .venv/bin/python benchmarks/memory.py --minutes 60 --only chords --threads 1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "memory.md"

SR = 44100
_CLI = "from dlmir.cli import main; main()"
_BASELINE = (
    "import sys, numpy as np; from dlmir.io import load; from dlmir.frontends import extract, frontend; "
    "y, sr = load(sys.argv[1], sr=22050); np.save(sys.argv[2], extract(frontend('cqt', sr=sr), y))"
)


def synthesise(path: Path, minutes: float, *, seed: int = 0) -> Path:
    """Write ``minutes`` of 44.1 kHz stereo PCM_16 music-like audio (chords + noise) to ``path``, 10 s at a time."""
    import soundfile as sf

    if path.exists() and sf.info(path).frames == int(minutes * 60 * SR):
        return path
    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * SR)
    piece = 10 * SR
    roots = 110.0 * 2.0 ** (rng.integers(0, 12, size=total // (2 * SR) + 2) / 12.0)
    tmp = path.with_name(f".{path.name}.part")
    with sf.SoundFile(tmp, "w", samplerate=SR, channels=2, subtype="PCM_16", format="WAV") as f:
        for start in range(0, total, piece):
            n = min(piece, total - start)
            t = (start + np.arange(n)) / SR
            root = roots[(start + np.arange(n)) // (2 * SR)]
            y = sum(0.12 / k * np.sin(2 * np.pi * k * ratio * root * t) for k in (1, 2, 3) for ratio in (1, 1.26, 1.5))
            y = y + 0.02 * rng.standard_normal(n)
            f.write(np.stack([y, 0.8 * y + 0.01 * rng.standard_normal(n)], axis=1).astype(np.float32))
    os.replace(tmp, path)
    return path


def measure(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Run ``python args...``; return (peak RSS in MB, wall seconds, exit status)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        print(err[-2000:], file=sys.stderr)
    return usage.ru_maxrss / 1024.0, wall, proc.returncode  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "dlmir-memory")
    parser.add_argument("--baseline", action="store_true", help="also run the one-shot (whole-file) path")
    parser.add_argument("--only", nargs="+", default=None, help="run the commands whose name has one of these words")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the children (default: unset)")
    parser.add_argument("--results", default=str(RESULTS), help="Markdown file for the table ('': none)")
    opts = parser.parse_args()
    env = None
    if opts.threads:
        env = {**os.environ, "OMP_NUM_THREADS": str(opts.threads), "MKL_NUM_THREADS": str(opts.threads)}
    load_start = os.getloadavg()[0]
    opts.dir.mkdir(parents=True, exist_ok=True)
    out = opts.dir / "out"
    rows = []
    for minutes in opts.minutes:
        t0 = time.perf_counter()
        audio = synthesise(opts.dir / f"synth_{minutes:g}min.wav", minutes)
        print(f"{audio.name}: {audio.stat().st_size / 2**20:.0f} MB, written in {time.perf_counter() - t0:.0f} s")
        runs = {
            "features --kind cqt": ["-c", _CLI, "features", str(audio), "--kind", "cqt", "--out", str(out)],
            "chroma --model default": ["-c", _CLI, "chroma", str(audio), "--model", "default", "--out", str(out)],
            "chords --model default": ["-c", _CLI, "chords", str(audio), "--model", "default", "--out", str(out)],
            "chords --model chordnet": ["-c", _CLI, "chords", str(audio), "--model", "chordnet", "--out", str(out)],
        }
        if opts.baseline:
            runs["one-shot cqt (before)"] = ["-c", _BASELINE, str(audio), str(out / "baseline.npy")]
        if opts.only:
            runs = {k: v for k, v in runs.items() if any(w in k for w in opts.only)}
        for name, args in runs.items():
            rss, wall, code = measure(args, env)
            rows.append((minutes, name, rss, wall, code))
            print(f"{minutes:>5g} min  {name:<24} peak RSS {rss:7.0f} MB  wall {wall:6.1f} s  exit {code}", flush=True)
    lines = [
        "# Peak memory of dlmir commands on long files\n",
        "Written by `python benchmarks/memory.py` (see its docstring): each command in its own subprocess on a"
        " synthetic 44.1 kHz stereo 16-bit WAV; peak RSS is the child's `ru_maxrss`.\n",
        f"- {os.cpu_count()} CPUs; load average (1 min) {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at"
        f" the end; OMP_NUM_THREADS {opts.threads or 'unset'}\n",
        "| audio | command | peak RSS (MB) | wall (s) |",
        "|---|---|---|---|",
    ]
    for minutes, name, rss, wall, code in rows:
        note = "" if code == 0 else " (failed)"
        lines.append(f"| {minutes:g} min 44.1 kHz stereo | `dlmir {name}` | {rss:.0f} | {wall:.1f}{note} |")
    print("\n" + "\n".join(lines[-len(rows) - 2 :]))
    if opts.results:
        path = Path(opts.results)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        print(f"written to {path}")


if __name__ == "__main__":
    main()
