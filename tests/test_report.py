"""Chapter 6's comparison table (genviz_utils.report.comparison_table): the rows, the formats, the errors."""

import json
import math

import pytest

from genviz_utils.report import COMPARISON, comparison_table

BOARD = {
    "vae": {"fid": 142.734, "precision": 0.8679, "recall": 0.0, "recon_mse": 0.05678, "recon_psnr": 12.46,
            "nll_bits_per_dim": 0.5352, "iwae_k": 16, "train_seconds": 1.2, "sample_img_per_s": 17583.4},
    "vqvae": {"fid": 237.07, "precision": 0.882, "recall": 0.1, "recon_mse": 0.06464, "recon_psnr": 11.89,
              "prior_bits_per_dim": 0.1352, "codebook_usage": 0.5, "train_seconds": 2.0, "sample_img_per_s": 1724.2},
    "gan": {"fid": 335.85, "precision": 0.012, "recall": 0.0, "train_seconds": math.nan, "sample_img_per_s": 15357},
}
LABELS = {"vae": "VAE", "vqvae": "VQ-VAE + prior", "gan": "GAN"}
SOURCES = {"vae": "chapter 2", "vqvae": "chapter 3", "gan": "quick stand-in (chapter 4 not run)"}
REFERENCE = {"fid": 4.635, "precision": 0.878, "recall": 0.844}


def test_comparison_table_rows_formats_and_reference():
    lines = comparison_table(BOARD, LABELS, SOURCES, REFERENCE, "FD-X").splitlines()
    assert lines[0] == ("| model | source | FD-X ↓ | precision ↑ | recall ↑ | MSE ↓ | PSNR of the MSE, dB ↑ "
                        "| bits/dim ↓ | train s | samples/s |")
    assert lines[1] == "|" + "---|" * (2 + len(COMPARISON))
    assert lines[2] == "| VAE | chapter 2 | 142.73 | 0.868 | 0.000 | 0.0568 | 12.5 | 0.535 | 1 | 17,583 |"
    # a token prior's bits are starred (not a likelihood of the image)
    assert lines[3] == "| VQ-VAE + prior | chapter 3 | 237.07 | 0.882 | 0.100 | 0.0646 | 11.9 | 0.135* | 2 | 1,724 |"
    # no encoder, no likelihood: dashes; an unknown training time prints as nan, not as a number
    assert lines[4] == ("| GAN | quick stand-in (chapter 4 not run) | 335.85 | 0.012 | 0.000 | — | — | — | nan "
                        "| 15,357 |")
    assert lines[5] == "| train data (reference) | — | 4.63 | 0.878 | 0.844 | — | — | — | — | — |"
    assert len(lines) == 6
    # the rows keep the board's order
    swapped = comparison_table({k: BOARD[k] for k in ("gan", "vae")}, LABELS, SOURCES, REFERENCE).splitlines()
    assert swapped[2].startswith("| GAN |") and swapped[3].startswith("| VAE |")
    assert "FD-FMNIST-CNN ↓" in swapped[0]


def test_comparison_table_names_what_is_missing():
    with pytest.raises(ValueError, match="no label or source for \\['gan'\\]"):
        comparison_table(BOARD, {k: v for k, v in LABELS.items() if k != "gan"}, SOURCES, REFERENCE)
    with pytest.raises(ValueError, match="no label or source"):
        comparison_table(BOARD, LABELS, {"vae": "chapter 2"}, REFERENCE)
    no_recall = {"vae": {k: v for k, v in BOARD["vae"].items() if k != "recall"}}
    with pytest.raises(ValueError, match="'vae' has no \\['recall'\\]"):
        comparison_table(no_recall, LABELS, SOURCES, REFERENCE)
    with pytest.raises(ValueError, match="'train data \\(reference\\)' has no \\['fid'\\]"):
        comparison_table(BOARD, LABELS, SOURCES, {"precision": 0.9, "recall": 0.8})


def test_live_explorers_reach_the_status_page_and_metrics(tmp_path):
    from genviz_utils.report import main

    live = {"notebooks/04_gan.html": {"explorers": 3, "payload_bytes": 800_000, "payload_gzip_bytes": 630_000,
                                      "first_image_ms": {"a": 300.0, "b": 818.4}, "own_first_image_ms": {"a": 20.0,
                                      "b": 31.2}, "redraw_ms": {"a": 4.8, "b": 5.3}}}
    (tmp_path / "live.json").write_text(json.dumps(live))
    main(["--results", str(tmp_path / "none"), "--json", str(tmp_path / "m.json"),
          "--markdown", str(tmp_path / "m.md"), "--live", str(tmp_path / "live.json")])
    text = (tmp_path / "m.md").read_text()
    assert "| notebooks/04_gan.html | 3 | 0.80 | 0.63 | 818 | 31 | 4.8, 5.3 |" in text
    assert json.loads((tmp_path / "m.json").read_text())["live"] == live
