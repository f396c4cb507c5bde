"""``dlmir data check`` (what a dataset holds, and whether it is sound) and ``dlmir data features`` (fill the cache).

Thin: the numbers come from :func:`dlmir.data.manifest.summarize` and :class:`dlmir.data.cache.FeatureCache`.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from dlmir.cli.app import data_app


class FrontendKind(StrEnum):
    cqt = "cqt"
    chroma = "chroma"
    mel = "mel"
    mfcc = "mfcc"
    stft = "stft"
    onset = "onset"


def _hms(hours: float) -> str:
    return f"{hours:.3f} h"


@data_app.command("check")
def check(
    dataset: Path = typer.Argument(..., help="Dataset folder (with manifest.csv)."),
    top: int = typer.Option(20, "--top", help="How many of the most frequent chord labels to list."),
) -> None:
    """Summarise DATASET: items and hours per split and source, label histogram, durations, and problems.

    Exit status 1 if a piece appears in more than one split, or an item's audio or labels are missing or
    malformed; 2 if the manifest itself cannot be read.
    """
    from dlmir.data.manifest import summarize
    from dlmir.errors import DlmirError

    try:
        s = summarize(dataset, top=top)
    except DlmirError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    echo = typer.echo
    echo(f"dataset {s['dataset']}: {s['items']} items, {_hms(s['hours'])}")
    echo("per split:")
    for name, v in s["splits"].items():
        echo(f"  {name:<12} {v['items']:>6} items  {_hms(v['hours'])}")
    echo("per source:")
    for name, v in s["sources"].items():
        echo(f"  {name:<12} {v['items']:>6} items  {_hms(v['hours'])}")
    d = s["durations"]
    echo(f"durations: min {d['min']:.3f} s, median {d['median']:.3f} s, max {d['max']:.3f} s")
    if s["top_labels"]:
        echo(f"chord classes present (full 157-class vocabulary): {s['n_classes']}")
        echo(f"top {len(s['top_labels'])} labels (seconds, segments):")
        for label, secs, n in s["top_labels"]:
            echo(f"  {label:<10} {secs:>10.1f} s {n:>7}")
        echo("per quality (seconds): " + ", ".join(f"{q} {v:.1f}" for q, v in s["qualities"].items()))
        echo("per root (seconds):    " + ", ".join(f"{r} {v:.1f}" for r, v in s["roots"].items()))
    if s["instruments"]:
        echo("instruments (items): " + ", ".join(f"{k} {v}" for k, v in s["instruments"].items()))
    if s["shared_pieces"]:
        echo(f"ERROR: {len(s['shared_pieces'])} piece(s) appear in more than one split:", err=True)
        for piece, splits in list(s["shared_pieces"].items())[:20]:
            echo(f"  {piece}: {', '.join(splits)}", err=True)
    else:
        echo("pieces shared between splits: none")
    if s["problems"]:
        echo(f"ERROR: {len(s['problems'])} item(s) with missing or malformed audio/labels:", err=True)
        for item_id, message in s["problems"][:50]:
            echo(f"  {item_id}: {message}", err=True)
    else:
        echo("missing or malformed items: none")
    if not s["ok"]:
        raise typer.Exit(1)


@data_app.command("features")
def features(
    dataset: Path = typer.Argument(..., help="Dataset folder (with manifest.csv)."),
    frontend: FrontendKind = typer.Option(
        FrontendKind.cqt, "--frontend", "-f", help="Front end; cqt is the chord CQT (192 bins, 24/octave from C1)."
    ),
    sr: int = typer.Option(22050, "--sr", help="Sampling rate in Hz the audio is loaded at."),
    hop_length: int = typer.Option(512, "--hop-length", help="Samples between frames."),
    split: str | None = typer.Option(None, "--split", help="Only this split (train, valid, test)."),
) -> None:
    """Fill DATASET's feature cache (DATASET/features/<key>/<id>.npy) with a progress bar; reuses what is there.

    Exit status 1 if some items failed (they are named); 2 for bad arguments or an unreadable manifest.
    """
    from dlmir.data.cache import FeatureCache
    from dlmir.data.manifest import read_manifest
    from dlmir.errors import DlmirError
    from dlmir.frontends import frontend as build
    from dlmir.frontends.presets import CHORD_CQT

    try:
        rows = read_manifest(dataset, split=split)
        kwargs = {k: v for k, v in CHORD_CQT.items() if k not in ("frontend", "sr", "hop_length")}
        if frontend is FrontendKind.cqt:
            fe = build("cqt", sr=sr, hop_length=hop_length, **kwargs)
        else:
            fe = build(frontend.value, sr=sr, hop_length=hop_length)
        cache = FeatureCache(dataset, fe, audio={r.id: dataset / r.audio for r in rows})
        computed = cache.ensure(progress=True, skip_errors=True)
    except DlmirError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    cached = len(rows) - computed - len(cache.failures)
    typer.echo(f"{frontend.value} features in {cache.directory}: {computed} computed, {cached} already cached")
    if cache.failures:
        for item_id, message in cache.failures:
            typer.echo(f"failed: {item_id}: {message}", err=True)
        raise typer.Exit(1)
