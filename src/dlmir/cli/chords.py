"""``dlmir chords``: chord labels (.lab / JAMS, optional guitar tablature) of audio files; ``dlmir evaluate chords``.

Thin: :class:`dlmir.chords.recognition.ChordRecognizer` does the work (streamed in bounded memory), and
:func:`dlmir.evaluate.chord_table` the evaluation.
"""

from __future__ import annotations

from pathlib import Path

import typer

from dlmir.cli.app import app, evaluate_app, report_file_error
from dlmir.cli.app import fail as _fail

FORMATS = ("lab", "jams")


@app.command("chords")
def chords_cmd(
    audio: list[Path] = typer.Argument(..., help="Audio files (any format soundfile or librosa reads)."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Folder for <stem>.lab (or .jams); default: print the .lab lines."
    ),
    fmt: str = typer.Option("lab", "--format", "-f", help="lab | jams (files written with -o)."),
    tab: bool = typer.Option(False, "--tab", help="Also guitar tablature (<stem>.tab with -o, else printed)."),
    model: str = typer.Option("default", "--model", "-m", help="Model folder, 'default' or 'designed'."),
    vocabulary: str = typer.Option("full", "--vocabulary", help="full (157 classes) | majmin (25)."),
    method: str = typer.Option("viterbi", "--method", help="viterbi | median | none."),
    block_seconds: float = typer.Option(
        60.0, "--block-seconds", help="Seconds of audio per block (memory is bounded by this, not the file)."
    ),
) -> None:
    """Chord labels of each AUDIO file (Harte syntax: C:maj, A:min7, N), as ``start end label`` lines in seconds.

    Without -o the lines are printed (a ``# FILE`` line before each file's when there are several); with -o each
    file gets OUT/<stem>.lab (or .jams), and with --tab OUT/<stem>.tab. Long files are streamed in blocks. A file
    that fails is reported on one line and the others are still processed; the exit code is then 1.
    """
    from tqdm import tqdm

    from dlmir.annotations import write_jams, write_lab
    from dlmir.chords.recognition import ChordRecognizer
    from dlmir.errors import DlmirError

    if fmt not in FORMATS:
        raise _fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    try:
        rec = ChordRecognizer(model, vocabulary=vocabulary, method=method)
        if tab:
            from dlmir.chords.recognition import require_fretboard

            require_fretboard()  # tablature unavailable: say so before any work
    except DlmirError as exc:
        raise _fail(str(exc)) from exc
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    bar = tqdm(audio, desc="chords", unit="file", disable=len(audio) < 2)
    for path in bar:
        try:
            res = rec.analyze_file(path, block_seconds=block_seconds, tab=tab)
            tab_text = res.tab_text() if tab else None
        except (DlmirError, OSError) as exc:
            report_file_error(bar, failed, path, exc)
            continue
        if out is None:
            if len(audio) > 1:
                typer.echo(f"# {path}")
            typer.echo("\n".join(res.lab_lines()))
            if tab_text is not None:
                typer.echo(tab_text)
            continue
        if fmt == "jams":
            target = write_jams(out / f"{path.stem}.jams", res.intervals, res.labels, duration=res.duration,
                                title=path.name)  # fmt: skip
        else:
            target = write_lab(out / f"{path.stem}.lab", res.intervals, res.labels)
        if tab_text is not None:
            (out / f"{path.stem}.tab").write_text(tab_text + "\n")
        bar.write(f"{path} -> {target} ({len(res.labels)} segments)")
    if failed:
        typer.echo(f"failed: {len(failed)} of {len(audio)} file(s)", err=True)
        raise typer.Exit(1)


@evaluate_app.command("chords")
def evaluate_chords_cmd(
    dataset: Path = typer.Argument(..., help="A dlmir dataset, or any folder of audio + .lab/.jams of the same stem."),
    models: list[str] = typer.Option([], "--model", "-m", help="Model folders to compare (repeat)."),
    split: str = typer.Option(None, "--split", help="Split of a dlmir dataset (default: test); folders: every pair."),
    vocabulary: str = typer.Option("full", "--vocabulary", help="full (157) | majmin (25)."),
    method: str = typer.Option("viterbi", "--method", help="viterbi | median | none."),
    out: Path = typer.Option(None, "--out", "-o", help="Write OUT.csv and OUT.md."),
) -> None:
    """One table, one run, the same audio: designed chroma + templates, the default learned chroma + templates,
    and each --model, through the same decoder; mir_eval's root, majmin, mirex, thirds, triads, sevenths and
    tetrads (in %), each duration-weighted over files."""
    from dlmir.cli.learn import _write_table
    from dlmir.data.manifest import MANIFEST
    from dlmir.errors import DlmirError
    from dlmir.evaluate import chord_table

    if split is None and (dataset / MANIFEST).is_file():
        split = "test"
    entries: dict[str, object] = {"designed": "designed", "default": "default"}
    for m in models:
        name = Path(m).name if m not in entries else m
        while name in entries:
            name += "'"
        entries[name] = m
    try:
        rows = chord_table(dataset, entries, split=split, vocabulary=vocabulary, method=method, progress=True)
    except DlmirError as exc:
        raise _fail(str(exc)) from exc
    _write_table(rows, out)
