"""The published ConvLSTM's weights in our classifier, checked against a textbook cell."""

import pytest
import torch
import torch.nn.functional as F

from cropland.errors import CroplandError
from cropland.models import load_published_checkpoint
from tests.script_runs import PUBLISHED_WEIGHTS


@pytest.fixture(scope="module")
def published_state() -> dict[str, torch.Tensor]:
    return torch.load(PUBLISHED_WEIGHTS, map_location="cpu", weights_only=True)


def textbook_logits(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The published model written out gate by gate, with separate input and hidden weights.

    Gates i, f, o, g are consecutive blocks of the conv's output channels; the conv's input is
    concat(x, h), so its weight splits into an input part and a hidden part.
    """
    layer_input = x
    for layer in range(2):
        weight = state[f"convlstm.cell_list.{layer}.conv.weight"]
        bias = state[f"convlstm.cell_list.{layer}.conv.bias"]
        hidden = weight.shape[0] // 4
        in_channels = weight.shape[1] - hidden
        w_x, w_h = weight[:, :in_channels], weight[:, in_channels:]
        gate = {name: slice(k * hidden, (k + 1) * hidden) for k, name in enumerate("ifog")}

        batch, steps, _, height, width = layer_input.shape
        h = torch.zeros(batch, hidden, height, width, dtype=x.dtype)
        c = torch.zeros_like(h)
        outputs = []
        for t in range(steps):
            x_t = layer_input[:, t]
            pre = {
                name: F.conv2d(x_t, w_x[s], bias[s], padding=1) + F.conv2d(h, w_h[s], padding=1)
                for name, s in gate.items()
            }
            i, f, o = (torch.sigmoid(pre[name]) for name in "ifo")
            g = torch.tanh(pre["g"])
            c = f * c + i * g
            h = o * torch.tanh(c)
            outputs.append(h)
        layer_input = torch.stack(outputs, dim=1)
    pooled = layer_input[:, -1].mean(dim=(-2, -1))
    return pooled @ state["fc.weight"].T + state["fc.bias"]


def test_published_weights_match_a_textbook_cell(published_state):
    model = load_published_checkpoint(PUBLISHED_WEIGHTS)
    assert not model.training
    torch.manual_seed(0)
    x = torch.randn(3, 5, 5, 65, 65)
    with torch.no_grad():
        ours = model(x)
        reference = textbook_logits(published_state, x)
    assert ours.shape == (3, 10)
    torch.testing.assert_close(ours, reference, atol=1e-4, rtol=0)


def test_readouts_agree_on_full_sequences_and_differ_on_padded_ones():
    last_step = load_published_checkpoint(PUBLISHED_WEIGHTS)
    last_valid = load_published_checkpoint(PUBLISHED_WEIGHTS, readout="last_valid")
    torch.manual_seed(1)
    x = torch.randn(2, 4, 5, 33, 33)
    lengths = torch.tensor([4, 2])
    x[1, 2:] = 0  # padding, as the published loader made it
    with torch.no_grad():
        torch.testing.assert_close(last_step(x[:1]), last_valid(x[:1]))
        # The published model reads sequence 1 after two padded steps; ours at its own end.
        alone = last_valid(x[1:, :2])
        assert torch.allclose(last_valid(x, lengths)[1], alone[0], atol=1e-5)
        assert not torch.allclose(last_step(x, lengths)[1], alone[0], atol=1e-3)


def _save(tmp_path, state, name="weights.pth"):
    path = tmp_path / name
    torch.save(state, path)
    return path


def test_mis_shaped_or_incomplete_weights_are_named(tmp_path, published_state):
    state = dict(published_state)
    del state["fc.bias"]
    state["convlstm.cell_list.0.conv.weight"] = state["convlstm.cell_list.0.conv.weight"][:, :60]
    with pytest.raises(CroplandError) as error:
        load_published_checkpoint(_save(tmp_path, state))
    message = str(error.value)
    assert "missing fc.bias" in message
    assert "convlstm.cell_list.0.conv.weight has shape (256, 60, 3, 3)" in message
    assert "expected (256, 69, 3, 3)" in message


class NotATensor:
    pass


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "not a PyTorch weights file"),
        (b"# just text\n", "not a PyTorch weights file"),
        ({"epoch": 3}, "not a state dict of tensors"),
        ({"model": NotATensor()}, "Unsupported global"),
        ([torch.zeros(1)], "holds a list"),
    ],
)
def test_files_that_are_not_the_published_weights_get_a_clear_error(tmp_path, content, expected):
    path = tmp_path / "best_model.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(CroplandError, match=expected) as error:
        load_published_checkpoint(path)
    assert str(path) in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(CroplandError, match="does not exist"):
        load_published_checkpoint(tmp_path / "best_model.pth")
