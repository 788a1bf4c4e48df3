"""The convolutional autoencoder of chapter 1 (reference version, imported by later chapters)."""

from __future__ import annotations

import torch
from torch import nn


def check_images(x: torch.Tensor) -> None:
    """Raise a ValueError that names the fix unless ``x`` is a batch of 28x28 grey images, (B, 1, 28, 28)."""
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(
            f"expected images of shape (B, 1, 28, 28), got {tuple(x.shape)}. "
            "Add the channel axis with x.unsqueeze(1) or reshape a flat batch with x.view(-1, 1, 28, 28)."
        )


class ConvEncoder(nn.Module):
    """(B, 1, 28, 28) -> (B, out_dim). Two stride-2 convolutions (28 -> 14 -> 7), then a linear layer."""

    def __init__(self, out_dim: int, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(                                            # input (B, 1, 28, 28)
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.SiLU(),              # (B, width, 14, 14)
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.SiLU(),      # (B, 2 width, 7, 7)
            nn.Flatten(),                                                        # (B, 2 width * 49)
            nn.Linear(2 * width * 7 * 7, out_dim),                               # (B, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x)
        return self.net(x)


class ConvDecoder(nn.Module):
    """(B, in_dim) -> (B, 1, 28, 28) logits. Mirror of :class:`ConvEncoder` with transposed convolutions."""

    def __init__(self, in_dim: int, width: int = 32):
        super().__init__()
        self.width = width
        self.fc = nn.Sequential(nn.Linear(in_dim, 2 * width * 7 * 7), nn.SiLU())  # (B, in_dim) -> (B, 2 width * 49)
        self.net = nn.Sequential(                                                 # input (B, 2 width, 7, 7)
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.SiLU(),  # (B, width, 14, 14)
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),                     # (B, 1, 28, 28) logits
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2:
            raise ValueError(f"expected latent codes of shape (B, latent_dim), got {tuple(z.shape)}.")
        return self.net(self.fc(z).view(-1, 2 * self.width, 7, 7))   # unflatten to (B, 2 width, 7, 7)


class ConvAutoencoder(nn.Module):
    """Encoder g_phi: (B, 1, 28, 28) -> (B, latent_dim); decoder f_theta: back to (B, 1, 28, 28) in [0, 1].

    ``config`` holds the constructor arguments; :func:`genviz_utils.training.train` stores it in every checkpoint, so
    :func:`genviz_utils.models.registry.load_model` rebuilds the model (as for every course model).
    """

    def __init__(self, latent_dim: int = 2, width: int = 32):
        super().__init__()
        self.latent_dim = latent_dim
        self.config = dict(latent_dim=latent_dim, width=width)
        self.encoder = ConvEncoder(latent_dim, width)
        self.decoder_logits = ConvDecoder(latent_dim, width)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, 28, 28) -> codes z (B, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes z (B, latent_dim) -> images (B, 1, 28, 28) in [0, 1]."""
        # a sigmoid keeps pixels in [0, 1], the range of the data
        return torch.sigmoid(self.decoder_logits(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
