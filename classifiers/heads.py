"""Linear heads on sentence vectors: multinomial logistic regression, fitted in seconds on a CPU.

Used for the sentiment heads of the adapter sets, and meant for any other label a light head on
the encoder's sentence vectors should predict. Inputs are standardised inside the fit and the
scaling is folded back into the returned weight and bias, so callers apply ``x @ weight.T + bias``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True, slots=True)
class LinearHead:
    """``logits = vectors @ weight.T + bias``: weight (classes, features), bias (classes,), float32."""

    weight: np.ndarray
    bias: np.ndarray

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        """Logits for a batch of vectors (rows)."""
        return np.asarray(vectors, dtype=np.float32) @ self.weight.T + self.bias


def fit_linear_head(
    vectors: np.ndarray,
    labels: np.ndarray,
    classes: int,
    *,
    weights: np.ndarray | None = None,
    l2: float = 1e-3,
    balanced: bool = False,
    iterations: int = 100,
) -> LinearHead:
    """Fit a multinomial logistic regression with an L2 penalty (on standardised inputs) by L-BFGS.

    ``weights`` counts examples (e.g. an in-domain set twice); ``balanced`` also weighs each class
    inversely to its frequency, which suits macro-averaged metrics. Deterministic for given inputs.
    """
    inputs = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    targets = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    if len(inputs) == 0:
        raise ValueError("no examples to fit a head on")
    sample = torch.ones(len(targets)) if weights is None else torch.from_numpy(np.asarray(weights, dtype=np.float32))
    if balanced:
        counts = torch.bincount(targets, minlength=classes).float().clamp(min=1.0)
        sample = sample * (counts.sum() / (classes * counts))[targets]
    mean = inputs.mean(dim=0)
    scale = inputs.std(dim=0) + 1e-6
    standard = (inputs - mean) / scale
    weight = torch.zeros(inputs.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimiser = torch.optim.LBFGS(
        [weight, bias], lr=1.0, max_iter=iterations, history_size=20, line_search_fn="strong_wolfe"
    )
    total = sample.sum()

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        losses = torch.nn.functional.cross_entropy(standard @ weight + bias, targets, reduction="none")
        value = (losses * sample).sum() / total + l2 * (weight**2).sum()
        value.backward()  # type: ignore[no-untyped-call]
        return value

    optimiser.step(loss)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        folded = (weight / scale[:, None]).t().contiguous()
        folded_bias = bias - (mean / scale) @ weight
    return LinearHead(folded.numpy().astype(np.float32), folded_bias.numpy().astype(np.float32))
