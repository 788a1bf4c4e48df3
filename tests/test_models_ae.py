"""The reference convolutional autoencoder of chapter 1."""

import pytest
import torch

from genviz_utils.models.ae import ConvAutoencoder, ConvDecoder, ConvEncoder


@pytest.fixture
def model():
    torch.manual_seed(0)
    return ConvAutoencoder(latent_dim=4, width=4)


def test_forward_shapes(model):
    x = torch.rand(3, 1, 28, 28)
    z = model.encode(x)
    assert z.shape == (3, 4) and model.latent_dim == 4
    assert model.decode(z).shape == (3, 1, 28, 28)
    assert model(x).shape == x.shape
    assert ConvDecoder(4, width=4)(z).shape == (3, 1, 28, 28)  # logits
    assert ConvEncoder(7, width=4)(x).shape == (3, 7)


def test_output_range_is_zero_to_one(model):
    y = model(torch.rand(3, 1, 28, 28))
    assert 0 <= y.min() and y.max() <= 1
    extreme = model.decode(torch.tensor([[1e3, -1e3, 1e3, -1e3], [-50.0, 50.0, 0.0, 0.0]]))
    assert 0 <= extreme.min() and extreme.max() <= 1 and torch.isfinite(extreme).all()


def test_gradients_reach_every_parameter(model):
    x = torch.rand(2, 1, 28, 28)
    ((model(x) - x) ** 2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_missing_channel_axis_names_the_fix(model):
    with pytest.raises(ValueError) as err:
        model(torch.rand(3, 28, 28))
    msg = str(err.value)
    assert "(B, 1, 28, 28)" in msg and "(3, 28, 28)" in msg and "x.unsqueeze(1)" in msg


@pytest.mark.parametrize("shape", [(3, 784), (3, 1, 32, 32), (3, 3, 28, 28), (1, 28, 28)])
def test_other_bad_image_shapes(model, shape):
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 28, 28\).*view\(-1, 1, 28, 28\)"):
        model.encode(torch.rand(*shape))


def test_bad_latent_shape(model):
    with pytest.raises(ValueError, match=r"latent codes of shape \(B, latent_dim\), got \(4,\)"):
        model.decode(torch.rand(4))


def test_width_changes_the_size():
    small = sum(p.numel() for p in ConvAutoencoder(2, width=4).parameters())
    big = sum(p.numel() for p in ConvAutoencoder(2, width=8).parameters())
    assert small < big
