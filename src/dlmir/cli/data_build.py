"""``dlmir data chords``, ``instruments`` and ``band``: render labelled datasets through soundfonts;
``dlmir data notes``: add exact note files (``labels/<id>.notes.csv``) to a dataset built before they existed.

Thin: the work is done by :func:`dlmir.data.build.build_chords`, :func:`~dlmir.data.build.build_instruments`,
:func:`~dlmir.data.build.build_band` and :func:`dlmir.data.dataset_notes.add_notes`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from dlmir.cli.app import data_app


def _run(fn, **kwargs) -> None:  # noqa: ANN001 - builder function
    from dlmir.errors import DlmirError

    try:
        stats = fn(**kwargs)
    except DlmirError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(stats.summary())


@data_app.command("chords")
def chords(
    out: Path = typer.Argument(..., help="Dataset folder to create or resume."),
    size: str = typer.Option(
        "default", "--size", help="default (~5 h) | hours like 0.5h | ci (8 short items, for tests)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the musical content (splits do not depend on it)."),
    soundfont: list[str] = typer.Option(
        None, "--soundfont", help="Training soundfont NAME (timgm6mb, musescore) or PATH; repeatable."
    ),
    test_soundfont: str = typer.Option("fluidr3", "--test-soundfont", help="Held-out soundfont of the test split."),
    jobs: int = typer.Option(None, "--jobs", "-j", help="Worker processes (default: all cores)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    force: bool = typer.Option(
        False, "--force", help="Render every item again, even if OUT was built with another seed or soundfonts."
    ),
) -> None:
    """Render chord progressions and Bach chorales with exact chord labels (.lab + .jams) into OUT.

    Resumable: run it again to finish an interrupted build, or with a larger --size to grow it.
    """
    from dlmir.data.build import build_chords

    _run(
        build_chords,
        out=out,
        size=size,
        seed=seed,
        soundfonts=soundfont or None,
        test_soundfont=test_soundfont,
        jobs=jobs,
        progress=not quiet,
        force=force,
    )


@data_app.command("instruments")
def instruments(
    out: Path = typer.Argument(..., help="Dataset folder to create or resume."),
    size: str = typer.Option("default", "--size", help="default (~5,700 notes, ~3.2 h) | ci (45 notes, for tests)."),
    seed: int = typer.Option(
        0, "--seed", help="Velocity seed: 0 renders each dynamic's nominal velocity, others draw it +-12 around."
    ),
    soundfont: list[str] = typer.Option(
        None, "--soundfont", help="Training soundfont NAME (timgm6mb, musescore) or PATH; repeatable."
    ),
    test_soundfont: str = typer.Option("fluidr3", "--test-soundfont", help="Held-out soundfont of the test split."),
    jobs: int = typer.Option(None, "--jobs", "-j", help="Worker processes (default: all cores)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    force: bool = typer.Option(
        False, "--force", help="Render every item again, even if OUT was built with another seed or soundfonts."
    ),
) -> None:
    """Render isolated notes of 15 instruments over their pitch ranges at pp/mf/ff into OUT (resumable)."""
    from dlmir.data.build import build_instruments

    _run(
        build_instruments,
        out=out,
        size=size,
        seed=seed,
        soundfonts=soundfont or None,
        test_soundfont=test_soundfont,
        jobs=jobs,
        progress=not quiet,
        force=force,
    )


@data_app.command("band")
def band(
    out: Path = typer.Argument(..., help="Dataset folder to create or resume."),
    size: str = typer.Option(
        "default",
        "--size",
        help="default (~1 h: test 40 %, valid 40 %, train 20 %) | hours like 0.5h | ci (6 x ~10 s).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the arrangements and their production."),
    production: str = typer.Option("realistic", "--production", help="Production preset: realistic | clean | heavy."),
    soundfont: list[str] = typer.Option(
        None,
        "--soundfont",
        help="Training soundfont NAME or PATH; repeatable (default: every installed one but the test one).",
    ),
    test_soundfont: str = typer.Option("fluidr3", "--test-soundfont", help="Held-out soundfont of the test split."),
    jobs: int = typer.Option(None, "--jobs", "-j", help="Worker processes (default: all cores)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Render every item again, even if OUT was built with another seed, soundfonts or production.",
    ),
) -> None:
    """Render produced band arrangements (drums, bass, comping, lead) with exact chords and beats into OUT.

    Writes audio/<id>.flac, labels/<id>.lab, .jams and .beats (time, beat in bar). The fixed validation/test set
    for chord recognition on band recordings (training streams renders: dlmir.data.render_stream). Resumable:
    run it again to finish an interrupted build, or with a larger --size to grow it.
    """
    from dlmir.data.build import build_band

    _run(
        build_band,
        out=out,
        size=size,
        seed=seed,
        soundfonts=soundfont or None,
        test_soundfont=test_soundfont,
        production=production,
        jobs=jobs,
        progress=not quiet,
        force=force,
    )


@data_app.command("notes")
def notes(
    dataset: Path = typer.Argument(..., help="A dataset built by `dlmir data chords` or `dlmir data band`."),
    force: bool = typer.Option(False, "--force", help="Rewrite notes files that exist."),
    split: str = typer.Option(None, "--split", help="Only items of this split (train | valid | test)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Write labels/<id>.notes.csv (onset, offset, MIDI pitch, velocity; exact) for every item of DATASET.

    Regenerates each piece from the build's records (build.json, .done/) without rendering audio; band items'
    times are scaled by their production's detune. Adds the manifest column `notes`. Items that cannot be
    regenerated exactly are skipped with a warning.
    """
    import warnings

    from dlmir.data.dataset_notes import add_notes
    from dlmir.data.manifest import read_manifest
    from dlmir.errors import DlmirError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            written = add_notes(dataset, force=force, progress=not quiet, split=split)
        rows = read_manifest(dataset)
    except DlmirError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for w in caught:
        typer.echo(f"warning: {w.message}", err=True)
    have = sum(1 for r in rows if r.get("notes"))
    typer.echo(f"{written} notes files written; {have} of {len(rows)} items have notes -> {dataset}")
