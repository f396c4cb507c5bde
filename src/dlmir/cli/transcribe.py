"""``dlmir transcribe``: notes of audio files (.mid + .csv, optional piano-roll PNG); ``dlmir evaluate
transcription``: mir_eval multipitch and note scores of the designed baseline and learned models in one table.

Thin: :class:`dlmir.transcription.NoteTranscriber` does the work (streamed in bounded memory) and
:func:`dlmir.transcription.evaluate.evaluate_transcription` the evaluation.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import typer

from dlmir.cli.app import app, evaluate_app, report_file_error
from dlmir.cli.app import fail as _fail


def _plot_cqt(path: Path, max_frames: int = 20000) -> tuple[np.ndarray, float]:
    """The designed salience's CQT of an audio file (36 bins per octave from A0), streamed and decimated in time
    to at most ``max_frames`` frames; returns ``(cqt, frames per second)``."""
    from dlmir.frontends import CQT
    from dlmir.frontends.streaming import AudioStream, stream_frames
    from dlmir.transcription import HarmonicSalience

    ref = HarmonicSalience.__init__.__kwdefaults__  # the designed salience's CQT
    sr, hop = float(ref["sr"]), int(ref["hop_length"])
    fe = CQT(sr=sr, hop_length=hop, fmin=27.5 * 2 ** (-1 / 36), n_bins=int(ref["n_bins"]), bins_per_octave=36)
    with AudioStream(path, sr=sr) as stream:
        n_frames = 1 + stream.n_samples // hop
    step = max(1, int(np.ceil(n_frames / max_frames)))
    parts = []
    for start, block in stream_frames(fe, path, sr=sr):
        first = (-start) % step
        parts.append(block[:, first::step])
    return np.concatenate(parts, axis=1), sr / hop / step


@app.command("transcribe")
def transcribe_cmd(
    audio: list[Path] = typer.Argument(..., help="Audio files (any format soundfile or librosa reads)."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Folder for <stem>.mid and <stem>.csv; default: print the notes."
    ),
    model: str = typer.Option(
        "default", "--model", "-m", help="'default' (the shipped transcriber), 'designed', or a model folder."
    ),
    plot: bool = typer.Option(False, "--plot", help="Also <stem>.png: the notes over the CQT (needs -o)."),
    threshold: float = typer.Option(None, "--threshold", help="Frame threshold (default: the model's)."),
    onset_threshold: float = typer.Option(None, "--onset-threshold", help="Onset threshold (default: the model's)."),
    min_duration: float = typer.Option(None, "--min-duration", help="Shortest note in seconds (default: the model's)."),
    program: int = typer.Option(0, "--program", help="GM program of the written MIDI track (0 = piano)."),
    block_seconds: float = typer.Option(
        60.0, "--block-seconds", help="Seconds of audio per block (memory is bounded by this, not the file)."
    ),
) -> None:
    """Notes of each AUDIO file: onset and offset (s), MIDI pitch (21-108), velocity.

    With -o each file gets OUT/<stem>.mid and OUT/<stem>.csv (header onset,offset,pitch,velocity) and, with --plot,
    OUT/<stem>.png; without -o the notes are printed as CSV lines (a ``# FILE`` line before each file's when there
    are several). Long files are streamed in blocks. A file that fails is reported on one line and the others are
    still processed; the exit code is then 1.
    """
    from tqdm import tqdm

    from dlmir.data.notes import write_midi, write_notes_csv
    from dlmir.errors import DlmirError
    from dlmir.transcription import NoteTranscriber

    if plot and out is None:
        raise _fail("--plot writes OUT/<stem>.png: give an output folder with -o")
    if not 0 <= program <= 127:
        raise _fail(f"--program must be a GM program 0..127, got {program}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tr = NoteTranscriber(model, frame_threshold=threshold, onset_threshold=onset_threshold,
                                 min_duration_s=min_duration, block_seconds=block_seconds)  # fmt: skip
    except DlmirError as exc:
        raise _fail(str(exc)) from exc
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    bar = tqdm(audio, desc="transcribe", unit="file", disable=len(audio) < 2)
    for path in bar:
        try:
            notes = tr.transcribe_file(path)
            if out is not None:
                mid = out / f"{path.stem}.mid"
                write_midi(mid, notes, program=program)
                write_notes_csv(out / f"{path.stem}.csv", notes)
                if plot:
                    from dlmir.transcription.plot import plot_piano_roll

                    cqt, rate = _plot_cqt(path)
                    plot_piano_roll(notes, cqt, out / f"{path.stem}.png", frame_rate=rate,
                                    title=f"{path.name}: {len(notes)} notes ({tr.name})")  # fmt: skip
        except (DlmirError, OSError) as exc:
            report_file_error(bar, failed, path, exc)
            continue
        if out is None:
            if len(audio) > 1:
                typer.echo(f"# {path}")
            typer.echo("onset,offset,pitch,velocity")
            for a, b, p, v in zip(notes.onset, notes.offset, notes.pitch, notes.velocity, strict=True):
                typer.echo(f"{a:.4f},{b:.4f},{int(p)},{int(v)}")
        else:
            bar.write(f"{path} -> {mid} ({len(notes)} notes)")
    if failed:
        typer.echo(f"failed: {len(failed)} of {len(audio)} file(s)", err=True)
        raise typer.Exit(1)


@evaluate_app.command("transcription")
def evaluate_transcription_cmd(
    dataset: Path = typer.Argument(
        ..., help="A dlmir dataset (labels/<id>.notes.csv), or a folder of audio + .mid/.csv notes of the same stem."
    ),
    models: list[str] = typer.Option(
        [],
        "--model",
        "-m",
        help="Models to compare (repeat): 'default' or a model folder. The designed baseline "
        "is always scored; without --model the shipped transcriber is too, when there is one.",
    ),  # fmt: skip
    split: str = typer.Option(None, "--split", help="Split of a dlmir dataset (default: test)."),
    limit: int = typer.Option(None, "--limit", help="Only the first N items (quick checks)."),
    per_file: bool = typer.Option(False, "--per-file", help="Print one row per file and model."),
    out: Path = typer.Option(None, "--out", "-o", help="Write OUT.md (the table) and OUT.csv (per-file scores)."),
) -> None:
    """Multipitch frame precision/recall/accuracy and note precision/recall/F (onsets; onsets and offsets) with
    mir_eval, in %, mean over files, for the designed baseline and each --model, on the same audio in one run.
    A file that fails is reported on one line, the table shows the rest and the exit code is 1."""
    import csv

    from dlmir.errors import DlmirError
    from dlmir.transcription.api import shipped_transcriber_available
    from dlmir.transcription.evaluate import COLUMNS, evaluate_transcription, transcription_table

    entries: dict[str, object] = {}
    chosen = list(models) if models else (["default"] if shipped_transcriber_available() else [])
    for m in chosen:
        if m == "designed":
            continue
        if m == "default" and not shipped_transcriber_available():
            raise _fail("--model default: no learned transcriber is shipped with this dlmir; give a model folder")
        name = m if m == "default" else Path(m).name
        while name in entries or name == "designed":
            name += "'"
        entries[name] = m
    try:
        scores = evaluate_transcription(dataset, entries, split=split, progress=True, limit=limit)
    except DlmirError as exc:
        raise _fail(str(exc)) from exc
    for line in scores.failed:
        typer.echo(f"error: {line}".replace("\n", " "), err=True)
    text = transcription_table(scores, per_file=per_file)
    typer.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".md").write_text(transcription_table(scores) + "\n")
        with out.with_suffix(".csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["file", "model", "items", *COLUMNS], restval="")
            writer.writeheader()
            writer.writerows(scores.csv_rows())
        typer.echo(f"written {out.with_suffix('.md')} and {out.with_suffix('.csv')}")
    if scores.failed:
        typer.echo(f"failed: {len(scores.failed)} file(s)", err=True)
        raise typer.Exit(1)
