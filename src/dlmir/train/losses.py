"""Training targets and losses of learned chroma: what a ``(batch, 12)`` output is compared with.

Targets (:func:`chroma_targets`): for MSE, templates normalised to sum 1, N the uniform vector
1/12; for binary cross-entropy and the template loss, the binary templates (N: zeros). The loss
compares the model's 12-d output for the centre frame with the target (:func:`chroma_loss`); the
template loss instead scores the output against the 157 chord templates exactly as the decoder does
(:func:`template_loss`), training the chroma for the template matching it will be used with.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from dlmir.errors import ParameterError

LOSSES = ("mse", "bce", "template")


def chroma_targets(templates: torch.Tensor, loss: str = "mse") -> torch.Tensor:
    """``(batch, 12)`` binary templates -> training targets.

    ``loss='mse'``: templates normalised to sum 1 (all-zero N rows -> uniform 1/12), the practicum's
    target for a ``softmax(tanh(.))`` output. ``loss='bce'``: the binary templates themselves (N: all
    zeros), one independent pitch-class probability each, for a sigmoid output; ``loss='template'``:
    the binary templates too (:func:`template_loss` matches them to chord classes).
    """
    templates = templates.to(torch.float32)
    if loss in ("bce", "template"):
        return templates
    total = templates.sum(dim=1, keepdim=True)
    uniform = torch.full_like(templates, 1.0 / 12.0)
    return torch.where(total > 0, templates / total.clamp_min(1e-12), uniform)


def chroma_loss(output: torch.Tensor, target: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Loss between a ``(batch, 12)`` chroma output and its :func:`chroma_targets`.

    ``'mse'``: mean squared error; ``'bce'``: binary cross-entropy (output in ``(0, 1)``);
    ``'template'``: :func:`template_loss` (target: binary templates).
    """
    if kind == "mse":
        return torch.nn.functional.mse_loss(output, target)
    if kind == "bce":
        return torch.nn.functional.binary_cross_entropy(output.clamp(1e-6, 1 - 1e-6), target)
    if kind == "template":
        return template_loss(output, target)
    raise ParameterError(f"loss must be one of {LOSSES}, got {kind!r}")


@functools.lru_cache(maxsize=4)
def _vocabulary(name: str) -> np.ndarray:
    from dlmir.chords.decode import vocabulary_templates

    return vocabulary_templates(name)[0].astype(np.float32)


def template_loss(
    output: torch.Tensor,
    templates: torch.Tensor,
    *,
    vocabulary: str = "full",
    beta: float | None = None,
    no_chord_threshold: float | None = None,
) -> torch.Tensor:
    """Cross-entropy of the chord class under the decoder's template scores (a fixed template layer).

    Each output frame ``(batch, 12)`` is scored against the vocabulary's chord templates by
    :func:`dlmir.chords.decode.correlations` (N scores ``no_chord_threshold``), the scores become class
    probabilities ``softmax(beta * score)`` (the decoder's defaults), and the loss is the mean negative
    log probability of the reference chord. Chords with equal pitch classes (``C:maj6`` = ``A:min7``)
    score alike, so the reference is the set of classes whose template equals the frame's binary
    template (their probabilities summed). Frames whose template is in no class are left out.
    """
    from dlmir.chords.decode import BETA, NO_CHORD_THRESHOLD, correlations

    beta = BETA if beta is None else beta
    threshold = NO_CHORD_THRESHOLD if no_chord_threshold is None else no_chord_threshold
    vocab = torch.as_tensor(_vocabulary(vocabulary), device=output.device)
    templates = templates.to(output.device, torch.float32)
    logits = beta * correlations(output.float(), vocab, no_chord_threshold=threshold)
    size = templates.sum(dim=1, keepdim=True)
    match = ((templates @ vocab.T) == size) & (vocab.sum(dim=1)[None, :] == size)
    known = match.any(dim=1)
    match = match | ~known[:, None]  # unknown frames: every class, log(1) = 0, no gradient
    log_p = torch.log_softmax(logits, dim=1)
    nll = -torch.logsumexp(log_p.masked_fill(~match, float("-inf")), dim=1)
    return nll.sum() / known.sum().clamp_min(1)


__all__ = ["LOSSES", "chroma_loss", "chroma_targets", "template_loss"]
