"""Self-supervised pre-training of dlmir's convolutional trunks on unlabeled audio, and fine-tuning from them.

- :mod:`dlmir.pretrain.objective`: :class:`MaskedCQT`, masked reconstruction of CQT patches through the trunk of a
  ChordNet / ChordCNN (the shared ``_conv_trunk``) or an InstrumentCNN, with a light decoder.
- :mod:`dlmir.pretrain.data`: :class:`AudioExcerpts` (random excerpts of any folder of audio, read partially from
  disk) and :class:`UnlabeledStream` (dlmir's renders without labels).
- :mod:`dlmir.pretrain.init`: :func:`init_from`, copying a pre-trained trunk exactly into a model to fine-tune.

Training: :func:`dlmir.train.pretrain.pretrain` and ``dlmir pretrain AUDIO_DIR|stream --out RUN_DIR``; fine-tuning:
``dlmir train chords|instruments ... --init RUN_DIR``.
"""

from __future__ import annotations

from dlmir.pretrain.data import AUDIO_EXTENSIONS, AudioExcerpts, UnlabeledStream, find_audio, read_excerpt
from dlmir.pretrain.init import init_from, trunk_state
from dlmir.pretrain.objective import MaskedCQT, draw_masks, trunk_family, trunk_module

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioExcerpts",
    "MaskedCQT",
    "UnlabeledStream",
    "draw_masks",
    "find_audio",
    "init_from",
    "read_excerpt",
    "trunk_family",
    "trunk_module",
    "trunk_state",
]
