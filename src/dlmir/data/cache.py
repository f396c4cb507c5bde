"""An on-disk feature cache: each item's features computed once with a front end, then read back.

Layout: ``DATASET/features/<feature_key(frontend)>/<id>.npy`` (float32, ``(features, frames)``, magnitudes for
complex front ends), ``<id>.audio.json`` beside each (the identity of the audio it was computed from: file size
in bytes and modification time in ns) and ``frontend.json`` (the front end's ``config``).

Integrity: the folder name (:func:`feature_key`) hashes the front end's config *and* its tensors (every
parameter and buffer), so a trained or edited front end gets its own folder; an item whose audio file changed
size or modification time since its features were stored is recomputed. Files are written under a temporary
name and renamed (features first, then their ``.audio.json``), so an interrupted run never leaves a partial
file or a feature file that looks fresher than it is; the next run computes only what is missing or stale.
Any :class:`~dlmir.frontends.base.FrontEnd` works.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch

from dlmir.errors import AudioError, ParameterError
from dlmir.frontends.base import FrontEnd

__all__ = ["DEFAULT_SR", "FeatureCache", "feature_key", "frontend_sr", "safe_name"]

DEFAULT_SR = 22050


def frontend_sr(frontend: FrontEnd) -> float:
    """The sampling rate (Hz) a front end expects: its ``sr``, or :data:`DEFAULT_SR` for rate-free ones (STFT)."""
    return float(frontend.config.get("sr", DEFAULT_SR))


def feature_key(frontend: FrontEnd) -> str:
    """The cache folder name of a front end: a 16-hex-digit hash of its config and of all its tensors.

    ``frontend.cache_key()`` (name and keyword parameters) plus the name, dtype, shape and bytes of every
    parameter and buffer, so two front ends share cached features only when they compute the same thing:
    a trained, loaded or in-place-edited front end gets another folder than the designed one.
    """
    h = hashlib.sha1(frontend.cache_key().encode())
    tensors = [*frontend.named_parameters(), *frontend.named_buffers()]
    for name, tensor in sorted(tensors, key=lambda kv: kv[0]):
        t = tensor.detach().cpu()
        if t.dtype == torch.bfloat16:  # no numpy dtype: widen (exact)
            t = t.float()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}:".encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _audio_identity(path: Path) -> dict[str, int] | None:
    """``{"size": bytes, "mtime_ns": ns}`` of an audio file, or ``None`` when it cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return None
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def safe_name(item_id: str) -> str:
    """A file-name-safe form of an item id (path separators become ``__``)."""
    return item_id.replace("/", "__").replace("\\", "__").replace(os.sep, "__")


class FeatureCache:
    """Features of a dataset's items under one front end, computed on first use and stored as ``.npy``.

    Parameters
    ----------
    dataset_dir : the dataset folder (features go to ``dataset_dir/features/<feature_key(frontend)>/``).
    frontend : the front end (any :class:`FrontEnd`; audio is loaded at its ``sr``, 22050 Hz if it has none).
    audio : ``{id: audio path}``; default: the ``audio`` column of ``dataset_dir/manifest.csv``.
    cache_dir : where feature folders go instead of ``dataset_dir/features`` (e.g. for a read-only dataset).

    Examples
    --------
    >>> cache = FeatureCache("data/chords", frontends.frontend("cqt", n_bins=192, bins_per_octave=24))
    >>> cache.ensure()              # compute whatever is missing, with a progress bar
    >>> X = cache.get("prog0001")   # (n_bins, frames) float32
    """

    def __init__(
        self,
        dataset_dir: str | os.PathLike[str],
        frontend: FrontEnd,
        *,
        audio: Mapping[str, str | os.PathLike[str]] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not isinstance(frontend, FrontEnd):
            raise ParameterError(f"frontend must be a dlmir FrontEnd (e.g. dlmir.frontends.CQT()), got {frontend!r}")
        self.dataset_dir = Path(dataset_dir)
        self.frontend = frontend
        if audio is None:
            from dlmir.data.manifest import read_manifest

            audio = {row.id: self.dataset_dir / row.audio for row in read_manifest(self.dataset_dir)}
        self.audio: dict[str, Path] = {str(k): Path(v) for k, v in audio.items()}
        base = self.dataset_dir / "features" if cache_dir is None else Path(cache_dir)
        self.directory = base / feature_key(frontend)  # the front end's config and tensors as they are now

    @property
    def ids(self) -> list[str]:
        """Every item id the cache knows how to compute."""
        return list(self.audio)

    def path(self, item_id: str) -> Path:
        """Where the features of ``item_id`` are (or will be) stored."""
        return self.directory / f"{safe_name(item_id)}.npy"

    def identity_path(self, item_id: str) -> Path:
        """Where the identity (size, mtime) of the audio ``item_id``'s features were computed from is stored."""
        return self.directory / f"{safe_name(item_id)}.audio.json"

    def _stored_identity(self, item_id: str) -> dict[str, int] | None:
        try:
            return json.loads(self.identity_path(item_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def has(self, item_id: str) -> bool:
        """Whether up-to-date features of ``item_id`` are on disk (computed from its audio file as it is now)."""
        if not self.path(item_id).is_file() or item_id not in self.audio:
            return False
        current = _audio_identity(self.audio[item_id])
        return current is not None and self._stored_identity(item_id) == current

    def missing(self, ids: Iterable[str] | None = None) -> list[str]:
        """Ids whose features are not on disk yet, or are stale (their audio changed since)."""
        return [i for i in (self.ids if ids is None else ids) if not self.has(i)]

    def _write_config(self) -> None:
        cfg = self.directory / "frontend.json"
        if cfg.is_file():
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ParameterError(
                f"cannot create the feature cache folder {self.directory} ({exc.strerror}); "
                "pass cache_dir= (or cache='/writable/dir' to the datasets), or cache=False to keep features in memory"
            ) from None
        tmp = cfg.with_name(".frontend.json.part")
        tmp.write_text(json.dumps(self.frontend.config, indent=2, sort_keys=True, default=str) + "\n")
        os.replace(tmp, cfg)

    def compute(self, item_id: str) -> np.ndarray:
        """Compute (without storing) the features ``(features, frames)`` float32 of ``item_id``."""
        from dlmir.frontends import extract
        from dlmir.io import load

        if item_id not in self.audio:
            raise ParameterError(f"unknown item id {item_id!r} in {self.dataset_dir}")
        path = self.audio[item_id]
        y, _ = load(path, sr=frontend_sr(self.frontend))
        try:
            return extract(self.frontend, y).astype(np.float32, copy=False)
        except AudioError as exc:
            raise AudioError(f"{path}: {exc}") from exc

    def get(self, item_id: str) -> np.ndarray:
        """The features ``(features, frames)`` float32 of ``item_id``, computed and stored when missing or stale.

        Stale: the item's audio file has another size or modification time than when its features were stored.
        """
        target = self.path(item_id)
        if self.has(item_id):
            try:
                return np.load(target, allow_pickle=False)
            except (ValueError, OSError):  # unreadable (e.g. truncated by a crash elsewhere): recompute
                pass
        # the identity is taken before the audio is read: if the file changes meanwhile, the next call recomputes
        identity = _audio_identity(self.audio[item_id]) if item_id in self.audio else None
        features = self.compute(item_id)
        self._write_config()
        tmp = target.with_name(f".{target.stem}.{os.getpid()}.part.npy")
        np.save(tmp, features)
        os.replace(tmp, target)
        if identity is not None:
            side = self.identity_path(item_id)
            tmp_side = side.with_name(f".{side.name}.{os.getpid()}.part")
            tmp_side.write_text(json.dumps(identity), encoding="utf-8")
            os.replace(tmp_side, side)
        return features

    def ensure(self, ids: Iterable[str] | None = None, *, progress: bool = True, skip_errors: bool = False) -> int:
        """Compute and store the features of every id in ``ids`` (default: all) that is not on disk yet.

        Parameters
        ----------
        ids : item ids (default: every item).
        progress : show a tqdm bar.
        skip_errors : on a :class:`~dlmir.errors.DlmirError` (unreadable audio, ...) go on with the other items
            and record ``(id, message)`` in :attr:`failures`; otherwise raise it.

        Returns
        -------
        int : the number of items computed.
        """
        from tqdm.auto import tqdm

        from dlmir.errors import DlmirError

        todo = self.missing(ids)
        self.failures: list[tuple[str, str]] = []
        self._write_config()
        done = 0
        for item_id in tqdm(todo, desc=f"features {self.frontend.config['frontend']}", disable=not progress):
            try:
                self.get(item_id)
                done += 1
            except DlmirError as exc:
                if not skip_errors:
                    raise
                self.failures.append((item_id, str(exc)))
        return done

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.directory)!r}, items={len(self.audio)})"
