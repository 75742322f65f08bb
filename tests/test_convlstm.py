"""ConvLSTMClassifier's layer lists. What every model does is in tests/test_model_contract.py;
the ConvLSTM's settings and inputs in tests/test_model_inputs.py."""

import pytest

from cropland.models import ConvLSTMClassifier


def test_mismatched_layer_lists_are_refused():
    with pytest.raises(ValueError, match="one entry per layer"):
        ConvLSTMClassifier(in_channels=4, num_classes=3, hidden_channels=[6, 8], kernel_sizes=[3])
