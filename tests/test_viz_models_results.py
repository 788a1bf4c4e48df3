import json

import matplotlib.pyplot as plt
import pytest
import torch

from genviz_utils.diagrams import Block, draw_pipeline
from genviz_utils.models.ae import ConvAutoencoder
from genviz_utils.report import collect, main, to_markdown
from genviz_utils.results import read, record
from genviz_utils.training import History
from genviz_utils.viz import make_grid, plot_history, plot_latent_scatter, show_grid, show_reconstructions
from genviz_utils.widgets import interpolation_explorer, latent_explorer


def test_grid_shapes_and_bad_inputs():
    assert make_grid(torch.rand(10, 1, 28, 28), nrow=5, pad=1).shape == (2 * 29 + 1, 5 * 29 + 1)
    assert make_grid(torch.rand(3, 28, 28), nrow=3).ndim == 2  # (N, H, W) accepted
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\).*view\(-1, 1, 28, 28\)"):
        show_grid(torch.rand(4, 784))
    with pytest.raises(ValueError, match="same shape"):
        show_reconstructions(torch.rand(4, 1, 28, 28), torch.rand(4, 1, 14, 14))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot_latent_scatter(torch.rand(10, 3), torch.zeros(10), ["a"])


def test_plots_draw_something():
    h = History()
    for s in range(5):
        h.log(s, {"loss": 1.0 / (s + 1)})
    ax = plot_history(h, logy=True)
    assert len(ax.lines) == 1
    fig = show_reconstructions(torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28))
    assert len(fig.axes) == 2
    assert isinstance(draw_pipeline([Block("x", "data"), Block("enc", "net", "shrink")], notes=[(0, 1, "l")]),
                      plt.Figure)


def test_explorers_leave_a_static_figure_headless():
    decode = ConvAutoencoder(3, width=4).decode
    before = len(plt.get_fignums())
    assert latent_explorer(decode, 3, interactive=False) is None
    assert interpolation_explorer(decode, torch.zeros(3), torch.ones(3), interactive=False) is None
    assert len(plt.get_fignums()) >= before  # figures were made (plt.show is a no-op under Agg)
    with pytest.raises(ValueError, match="same shape"):
        interpolation_explorer(decode, torch.zeros(3), torch.zeros(2), interactive=False)


def test_conv_autoencoder_shapes_and_errors():
    m = ConvAutoencoder(4, width=4)
    x = torch.rand(3, 1, 28, 28)
    assert m.encode(x).shape == (3, 4)
    y = m(x)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    with pytest.raises(ValueError, match="unsqueeze"):
        m(torch.rand(3, 28, 28))
    with pytest.raises(ValueError, match="latent codes"):
        m.decode(torch.rand(4))


def test_results_merge_and_report(tmp_path):
    record("vae", fid=1.5, profile="smoke", device="cpu")
    record("vae", train_seconds=3.0)
    record("ae", recon_mse=0.1, profile="smoke", device="cpu")
    assert read("vae") == {"fid": 1.5, "train_seconds": 3.0, "profile": "smoke", "device": "cpu"}
    from genviz_utils.results import results_dir

    metrics = collect(results_dir())
    assert list(metrics["models"]) == ["ae", "vae"] and metrics["profile"] == "smoke"
    assert "| `fid` | 1.5 |" in to_markdown(metrics)
    main(["--results", str(results_dir()), "--json", str(tmp_path / "m.json"), "--markdown", str(tmp_path / "m.md")])
    assert json.loads((tmp_path / "m.json").read_text())["models"]["vae"]["fid"] == 1.5
