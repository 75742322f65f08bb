"""From a patch's feature map to one vector per image, knowing that the label is the field at
the patch centre.

A patch is 640 m around a point on a field; neighbouring fields, verges and roads fill its
edges. A plain mean over the patch mixes the field with its neighbours, so:

- :class:`CentreAttentionPool` weighs pixels by a learned score plus a Gaussian prior centred
  on the patch (its width learned too), a softmax over the pixels per head: the network can
  follow the field's shape, and starts out looking at the centre.
- :class:`PatchStatistics` gives, per channel, the mean of the centre square, the mean of the
  whole patch and its standard deviation: the summaries non-deep baselines classify well from,
  fed beside the learned features so that the network never has less to go on.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from cropland.errors import CroplandError
from cropland.models.sequence_inputs import is_whole

POOLINGS = ("mean", "centre_attention")


def check_pooling(pooling: object) -> str:
    if pooling not in POOLINGS:
        raise CroplandError(
            f"model.net.pooling={pooling!r}: expected one of {', '.join(POOLINGS)} "
            "(mean: the mean over the patch; centre_attention: learned weights with a prior "
            "on the patch centre)"
        )
    return str(pooling)


class CentreAttentionPool(nn.Module):
    """(n, channels, H, W) -> (n, heads * channels): per head, a softmax over the pixels of a
    1x1 convolution's score plus ``-r^2 / (2 sigma^2)``, ``r`` the distance from the patch
    centre in units of its half-width and ``sigma`` learned (starting at ``prior_width``)."""

    def __init__(self, channels: int, heads: int = 2, prior_width: float = 0.35) -> None:
        super().__init__()
        if not (is_whole(heads) and heads >= 1):
            raise CroplandError(
                f"model.net.pooling_heads={heads!r}: expected a whole number of at least 1"
            )
        if not (isinstance(prior_width, int | float) and 0 < prior_width < math.inf):
            raise CroplandError(
                f"model.net.prior_width={prior_width!r}: expected a number > 0, the prior's "
                "width as a share of the patch's half-width (e.g. 0.35)"
            )
        self.score = nn.Conv2d(channels, heads, 1)
        # Zero scores at first: the pooling starts as the prior alone.
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)
        self.log_width = nn.Parameter(torch.tensor(math.log(float(prior_width))))
        self.out_channels = heads * channels

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        rows = torch.linspace(-1.0, 1.0, height, device=x.device, dtype=torch.float32)
        cols = torch.linspace(-1.0, 1.0, width, device=x.device, dtype=torch.float32)
        squared = rows[:, None] ** 2 + cols[None, :] ** 2
        prior = -squared / (2 * torch.exp(2 * self.log_width))
        # The softmax in float32 whatever the precision around it: scores span a wide range.
        logits = self.score(x).float() + prior
        weights = torch.softmax(logits.flatten(2), dim=-1).to(x.dtype)
        pooled = torch.einsum("nkp,ncp->nkc", weights, x.flatten(2))
        return pooled.flatten(1)


class PatchStatistics(nn.Module):
    """(n, channels, H, W) -> (n, 3 * channels): per channel the centre square's mean (side
    ``centre``, or the whole patch when it is smaller), the patch mean and the patch std."""

    def __init__(self, centre: int) -> None:
        super().__init__()
        if not (is_whole(centre) and centre >= 1):
            raise CroplandError(
                f"model.net.statistics_centre={centre!r}: expected the side of the centre "
                "square in pixels, a whole number of at least 1 (e.g. 17), or null for none"
            )
        self.centre = int(centre)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2], x.shape[-1]
        side_h, side_w = min(self.centre, height), min(self.centre, width)
        top, left = (height - side_h) // 2, (width - side_w) // 2
        centre = x[..., top : top + side_h, left : left + side_w].mean(dim=(-2, -1))
        mean = x.mean(dim=(-2, -1))
        # The small floor keeps the gradient finite on a constant image (padding is one).
        std = ((x - mean[..., None, None]).pow(2).mean(dim=(-2, -1)) + 1e-6).sqrt()
        return torch.cat([centre, mean, std], dim=-1)
