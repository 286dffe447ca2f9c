"""The e5 encoder's pooled forward pass as one TorchScript function: a whole pass without the GIL.

Run from Python, every torch operation of a pass takes the GIL back when it ends, about 150 times
per pass. While the daemon's other threads (storing, fetching) run Python, a classifier lane waits
for the GIL after each operation (measured: a sixth of a lane's time beside a busy Python thread).
Called as one scripted function, a pass gives the GIL up once. Same operations in the same order
as ``FastEncoder.run``, so the same numbers, bit for bit (tests/classifiers/test_e5.py compares them).
Imported only when the default classifier runs (it imports torch). torch 2.13 marks TorchScript
deprecated in favour of torch.compile (which needs a C++ compiler at run time) and torch.export
(whose programs run op by op from Python again); where scripting is gone or fails, the same
function runs op by op, with the same numbers.
"""

import logging
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch.nn import functional

logger = logging.getLogger(__name__)

WEIGHTS_PER_LAYER = 12  # qkv, out, norm1, up, down, norm2: a weight and a bias each


def _pooled_pass(
    vectors: torch.Tensor,
    mask: torch.Tensor,
    position: torch.Tensor,
    token_type: torch.Tensor,
    norm_weight: torch.Tensor,
    norm_bias: torch.Tensor,
    layers: list[torch.Tensor],
    heads: int,
    eps: float,
    pool: list[int],
) -> torch.Tensor:
    """Mean-pooled hidden states of the layers in ``pool`` side by side (float32), as ``FastEncoder.run``.

    ``layers`` holds each layer's twelve tensors in the order of ``WEIGHTS_PER_LAYER``.
    """
    batch, tokens, hidden = vectors.shape
    size = hidden // heads
    weights = mask.unsqueeze(-1).to(torch.float32)
    count = weights.sum(dim=1).clamp(min=1.0)
    x = vectors + position[:tokens] + token_type
    x = functional.layer_norm(x, [hidden], norm_weight, norm_bias, eps)
    keep = mask.to(torch.bool)[:, None, None, :]
    pooled: list[torch.Tensor] = []
    pooled_numbers: list[int] = []
    for number in range(1, max(pool) + 1):
        first = (number - 1) * 12
        qkv = functional.linear(x, layers[first], layers[first + 1]).view(batch, tokens, 3, heads, size)
        query_key_value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        context = functional.scaled_dot_product_attention(
            query_key_value[0], query_key_value[1], query_key_value[2], attn_mask=keep
        )
        context = context.transpose(1, 2).reshape(batch, tokens, hidden)
        attended = x + functional.linear(context, layers[first + 2], layers[first + 3])
        x = functional.layer_norm(attended, [hidden], layers[first + 4], layers[first + 5], eps)
        up = functional.gelu(functional.linear(x, layers[first + 6], layers[first + 7]))
        down = x + functional.linear(up, layers[first + 8], layers[first + 9])
        x = functional.layer_norm(down, [hidden], layers[first + 10], layers[first + 11], eps)
        if number in pool:
            pooled.append((x.float() * weights).sum(dim=1) / count)
            pooled_numbers.append(number)
    return torch.cat([pooled[pooled_numbers.index(number)] for number in pool], dim=1)


def _scripted(function: Callable[..., Any]) -> Callable[..., Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # see the module docstring
            return torch.jit.script(function)  # type: ignore[no-any-return]
    except Exception as err:  # noqa: BLE001 - a torch without TorchScript: run it op by op
        logger.info("The e5 pass runs op by op (TorchScript unavailable: %s)", err)
        return function


pooled_pass = _scripted(_pooled_pass)
