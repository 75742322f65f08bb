"""Pure PyTorch models: each takes (batch, time, channels, H, W) and returns logits.

Adding a model (one file, one config, one line in ``networks.NETWORKS``):

- ``cropland/models/<name>.py`` with a class ``XClassifier(nn.Module)`` whose constructor is
  ``(in_channels, num_classes, <settings as plain values with CPU-sized defaults>)``; bad
  settings raise ``CroplandError`` naming ``model.net.<key>``. The module docstring names the
  paper it follows.
- ``forward(image, lengths=None, months=None)``: ``image`` (batch, time, channels, H, W),
  normalized; ``lengths`` (batch,) valid steps, padding after them; ``months`` (batch, time),
  1-12. It starts with ``check_in_eager(check_lengths, image, lengths)`` (unless scripting),
  returns logits, and gives each sequence of a padded batch exactly the logits it gets alone
  (masks, no Python branches on tensor values: the model must stay exportable).
- ``conf/model/<name>.yaml`` (and ``<name>_full.yaml`` at the paper's size), the dotted path in
  :data:`cropland.models.networks.NETWORKS`, and ``tests/test_model_<name>.py`` with the
  padding-invariance test.
- Shared input pieces live in :mod:`cropland.models.sequence_inputs`.
"""

from cropland.models.conv3d import Conv3DClassifier
from cropland.models.convlstm import ConvLSTMClassifier, ConvLSTMEncoder
from cropland.models.lrcn import LRCNClassifier
from cropland.models.networks import NETWORKS, build_network
from cropland.models.published import load_published_checkpoint
from cropland.models.single_date import SingleDateClassifier
from cropland.models.tae import LTAEClassifier
from cropland.models.tempcnn import TempCNNClassifier

__all__ = [
    "NETWORKS",
    "Conv3DClassifier",
    "ConvLSTMClassifier",
    "ConvLSTMEncoder",
    "LRCNClassifier",
    "LTAEClassifier",
    "SingleDateClassifier",
    "TempCNNClassifier",
    "build_network",
    "load_published_checkpoint",
]
