"""Render the bundled example (src/dlmir/assets/example.flac + example.lab) through FluidR3 GM.

A 12-second piano + bass chord progression with exact Harte labels, made once with FluidSynth and
committed so the README's first command needs no data or downloads. Run again to regenerate:
``.venv/bin/python scripts/make_example.py`` (needs the Debian packages fluidsynth, fluid-soundfont-gm).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf

ASSETS = Path(__file__).resolve().parents[1] / "src" / "dlmir" / "assets"
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
SR = 22050
# (label, MIDI pitches of the voicing, bass pitch, seconds)
PROGRESSION = [
    ("C:maj", [60, 64, 67, 72], 36, 1.5),
    ("A:min", [57, 60, 64, 69], 45, 1.5),
    ("F:maj", [57, 60, 65, 69], 41, 1.5),
    ("G:7", [55, 59, 62, 65], 43, 1.5),
    ("E:min", [55, 59, 64, 67], 40, 1.5),
    ("D:min7", [57, 60, 62, 65], 38, 1.5),
    ("G:maj", [55, 59, 62, 67], 43, 1.5),
    ("C:maj", [55, 60, 64, 72], 36, 1.5),
]


def main() -> None:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0, name="piano")
    bass = pretty_midi.Instrument(program=32, name="acoustic bass")
    t = 0.25
    rows = [(0.0, t, "N")]
    for label, notes, root, dur in PROGRESSION:
        for p in notes:
            piano.notes.append(pretty_midi.Note(velocity=80, pitch=p, start=t, end=t + dur))
        bass.notes.append(pretty_midi.Note(velocity=90, pitch=root, start=t, end=t + dur / 2))
        bass.notes.append(pretty_midi.Note(velocity=80, pitch=root + 7, start=t + dur / 2, end=t + dur))
        rows.append((t, t + dur, label))
        t += dur
    pm.instruments += [piano, bass]
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "example.mid", Path(tmp) / "example.wav"
        pm.write(str(mid))
        cmd = ["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "1.0", "-r", str(SR)]
        subprocess.run([*cmd, "-F", str(wav), "-T", "wav", SOUNDFONT, str(mid)], check=True)
        y, sr = sf.read(wav, dtype="float32")
    y = y.mean(axis=1) if y.ndim == 2 else y
    y = y[: int((t + 0.5) * sr)]
    y = 0.9 * y / np.abs(y).max()
    ASSETS.mkdir(parents=True, exist_ok=True)
    sf.write(ASSETS / "example.flac", y, sr, subtype="PCM_16")
    rows.append((t, len(y) / sr, "N"))
    with open(ASSETS / "example.lab", "w") as f:
        for start, end, label in rows:
            f.write(f"{start:.3f}\t{end:.3f}\t{label}\n")
    print(f"wrote {ASSETS / 'example.flac'} ({len(y) / sr:.2f} s) and example.lab")


if __name__ == "__main__":
    main()
