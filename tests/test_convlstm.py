import pytest
import torch

from cropland.models import ConvLSTMClassifier


@pytest.fixture
def model() -> ConvLSTMClassifier:
    torch.manual_seed(0)
    return ConvLSTMClassifier(
        in_channels=4,
        num_classes=3,
        hidden_channels=[6, 8],
        kernel_sizes=[3, 5],
        month_encoding=True,
    ).eval()


def test_padded_batch_gives_each_sequence_its_own_logits(model):
    lengths = [5, 2, 3]
    sequences = [torch.randn(n, 4, 17, 17) for n in lengths]
    months = [torch.tensor([6, 7, 8, 9, 10]), torch.tensor([7, 10]), torch.tensor([6, 8, 9])]

    batch = torch.zeros(3, 5, 4, 17, 17)
    batch_months = torch.zeros(3, 5, dtype=torch.long)
    for i, (seq, m) in enumerate(zip(sequences, months, strict=True)):
        batch[i, : len(seq)] = seq
        batch_months[i, : len(m)] = m
    # Garbage in the padding must not leak into the result.
    batch[1, 2:] = 100.0

    with torch.no_grad():
        padded = model(batch, torch.tensor(lengths), batch_months)
        alone = torch.cat(
            [
                model(s[None], torch.tensor([len(s)]), m[None])
                for s, m in zip(sequences, months, strict=True)
            ]
        )
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)


def test_state_is_sized_from_the_input(model):
    for size in (9, 65):
        logits = model(torch.randn(2, 3, 4, size, size), months=torch.tensor([[6, 7, 8]] * 2))
        assert logits.shape == (2, 3)


def test_month_encoding_changes_the_prediction(model):
    x = torch.randn(1, 3, 4, 9, 9)
    with torch.no_grad():
        early = model(x, months=torch.tensor([[6, 7, 8]]))
        late = model(x, months=torch.tensor([[8, 9, 10]]))
    assert not torch.allclose(early, late)


def test_mismatched_layer_lists_are_refused():
    with pytest.raises(ValueError, match="one entry per layer"):
        ConvLSTMClassifier(in_channels=4, num_classes=3, hidden_channels=[6, 8], kernel_sizes=[3])
