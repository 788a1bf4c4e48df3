"""Chapter 7's comparison table (genviz_utils.report.comparison_table): the rows, the formats, the errors."""

import json
import math

import pytest

from genviz_utils.report import COMPARISON, comparison_table

BOARD = {
    "vae": {"fid": 142.734, "precision": 0.8679, "recall": 0.0, "recon_mse": 0.05678, "recon_psnr": 12.46,
            "nll_bits_per_dim": 0.5352, "iwae_k": 16, "train_seconds": 1.2, "sample_img_per_s": 17583.4,
            "params": 412_321, "images_seen": 1_536_000},
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
                        "| pixel NLL bound, bits/dim ↓ | token prior, bits/dim | parameters | images seen | train s "
                        "| samples/s |")
    assert lines[1] == "|" + "---|" * (2 + len(COMPARISON))
    assert lines[2] == ("| VAE | chapter 2 | 142.73 | 0.868 | 0.000 | 0.0568 | 12.5 | 0.535 | — | 412,321 | 1,536,000 "
                        "| 1 | 17,583 |")
    # a token prior's bits have their own column (not a likelihood of the image)
    assert lines[3] == ("| VQ-VAE + prior | chapter 3 | 237.07 | 0.882 | 0.100 | 0.0646 | 11.9 | — | 0.135 | — | — "
                        "| 2 | 1,724 |")
    # no encoder, no likelihood: dashes; an unknown training time prints as nan, not as a number
    assert lines[4] == ("| GAN | quick stand-in (chapter 4 not run) | 335.85 | 0.012 | 0.000 | — | — | — | — | — | — "
                        "| nan | 15,357 |")
    assert lines[5] == "| train data (reference) | — | 4.63 | 0.878 | 0.844 | — | — | — | — | — | — | — | — |"
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


def _with_uncertainties() -> tuple[dict, dict]:
    board = {name: dict(row) for name, row in BOARD.items()}
    board["vae"] |= {"fid_ci": (138.2, 149.917), "kid": 65.651, "kid_std": 4.5595}
    board["vqvae"] |= {"fid_ci": [230.0, 245.5], "kid": 26.8}          # a list (as in metrics.json), no std
    return board, REFERENCE | {"kid": -0.3207, "kid_std": 0.8168, "recon_mse": 0.5}  # the reference shows no MSE


def test_comparison_table_shows_intervals_and_kid_when_given():
    board, reference = _with_uncertainties()
    lines = comparison_table(board, LABELS, SOURCES, reference, "FD-X").splitlines()
    assert lines[0] == ("| model | source | FD-X ↓ | KID ± std ↓ | precision ↑ | recall ↑ | MSE ↓ "
                        "| PSNR of the MSE, dB ↑ | pixel NLL bound, bits/dim ↓ | token prior, bits/dim | parameters "
                        "| images seen | train s | samples/s |")
    assert lines[1] == "|" + "---|" * (3 + len(COMPARISON))
    assert lines[2] == ("| VAE | chapter 2 | 142.73 [138.20, 149.92] | 65.65 ± 4.56 | 0.868 | 0.000 | 0.0568 | 12.5 "
                        "| 0.535 | — | 412,321 | 1,536,000 | 1 | 17,583 |")
    assert lines[3].startswith("| VQ-VAE + prior | chapter 3 | 237.07 [230.00, 245.50] | 26.80 | 0.882 |")
    # a row without them: the FD alone and a dash for the KID
    assert lines[4].startswith("| GAN | quick stand-in (chapter 4 not run) | 335.85 | — | 0.012 |")
    assert lines[5] == ("| train data (reference) | — | 4.63 | -0.32 ± 0.82 | 0.878 | 0.844 | — | — | — | — | — | — "
                        "| — | — |")
    # only intervals, no KID anywhere: no KID column
    only_ci = {"vae": BOARD["vae"] | {"fid_ci": (140.0, 150.0)}}
    head, _, row, _ = comparison_table(only_ci, LABELS, SOURCES, REFERENCE).splitlines()
    assert "KID" not in head and row.startswith("| VAE | chapter 2 | 142.73 [140.00, 150.00] | 0.868 |")


def test_comparison_table_rejects_malformed_uncertainties():
    with pytest.raises(ValueError, match="'vae': fid_ci must be an interval \\(low, high\\) with low <= high"):
        comparison_table({"vae": BOARD["vae"] | {"fid_ci": (150.0, 140.0)}}, LABELS, SOURCES, REFERENCE)
    with pytest.raises(ValueError, match="fid_ci must be an interval"):
        comparison_table({"vae": BOARD["vae"] | {"fid_ci": (140.0,)}}, LABELS, SOURCES, REFERENCE)
    with pytest.raises(ValueError, match="'train data \\(reference\\)' has a kid_std but no kid"):
        comparison_table({"vae": BOARD["vae"]}, LABELS, SOURCES, REFERENCE | {"kid_std": 0.1})


def test_intervals_reach_metrics_json_and_the_status_page(tmp_path, monkeypatch):
    from genviz_utils.report import main
    from genviz_utils.results import record

    monkeypatch.setenv("GENVIZ_RESULTS", str(tmp_path / "results"))
    record("scoreboard", vae={"fid": 142.734, "fid_ci": (138.2, 149.917), "kid": 65.651, "kid_std": 4.5595})
    main(["--results", str(tmp_path / "results"), "--json", str(tmp_path / "m.json"),
          "--markdown", str(tmp_path / "m.md")])
    vae = json.loads((tmp_path / "m.json").read_text())["models"]["vae"]
    assert vae["fid_ci"] == [138.2, 149.917] and vae["kid"] == 65.651 and vae["kid_std"] == 4.5595
    assert "| `fid_ci` | [138.2, 149.9] |" in (tmp_path / "m.md").read_text()


def test_curves_reach_metrics_json_the_headline_and_the_status_page(tmp_path, monkeypatch):
    from genviz_utils.report import main
    from genviz_utils.results import record

    monkeypatch.setenv("GENVIZ_RESULTS", str(tmp_path / "results"))
    curve = {"fid_curve": [[0.0, 310.0], [12.5, 80.0], [50.0, 31.2]],
             "fid_curve_ci": [[300.0, 320.0], [77.0, 84.0], [30.0, 33.0]],
             "fid_at_60s": 31.2, "fid_auc_60s": 7050.0}
    record("scoreboard", gan=curve, vae={"fid": 140.0})
    out = tmp_path / "gen" / "m.md"
    main(["--results", str(tmp_path / "results"), "--json", str(tmp_path / "m.json"), "--markdown", str(out)])
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["models"]["gan"]["fid_curve"] == curve["fid_curve"]
    assert metrics["headline"] == {"fid_at_60s": {"gan": 31.2}, "fid_auc_60s": {"gan": 7050.0}}
    text = out.read_text()
    assert "![Fréchet distance against seconds of training](gen/fid_curve.png)\n\n*The Fréchet distance" in text
    assert "| `gan` | 31.2 | 7050 | 0 s → 310, 12 s → 80, 50 s → 31.2 |" in text
    assert (out.parent / "fid_curve.png").stat().st_size > 1000
    # without curves: no section, no figure, no headline (a stale figure is removed)
    record("scoreboard", gan={"fid": 30.0})
    (tmp_path / "results" / "scoreboard.json").write_text(json.dumps({"gan": {"fid": 30.0}}))
    main(["--results", str(tmp_path / "results"), "--json", str(tmp_path / "m.json"), "--markdown", str(out)])
    assert "Sample quality against training seconds" not in out.read_text()
    assert not (out.parent / "fid_curve.png").exists()
    assert "headline" not in json.loads((tmp_path / "m.json").read_text())


def test_an_earlier_horizon_leaves_no_keys_behind(tmp_path, monkeypatch):
    """A model's results file merges each run's keys: the numbers of a horizon chapter 7 no longer uses are dropped."""
    from genviz_utils.report import main
    from genviz_utils.results import record

    monkeypatch.setenv("GENVIZ_RESULTS", str(tmp_path / "results"))
    curve = {"fid_curve": [[0.0, 310.0], [50.0, 31.2]], "fid_curve_ci": [[300.0, 320.0], [30.0, 33.0]]}
    record("gan", **curve, fid_at_30s=80.0, fid_auc_30s=5000.0)           # an earlier run, horizon 30 s
    record("gan", **curve, fid_at_60s=31.2, fid_auc_60s=7050.0)           # this run, horizon 60 s
    record("metrics", fid_curve_horizon=60.0)
    main(["--results", str(tmp_path / "results"), "--json", str(tmp_path / "m.json"),
          "--markdown", str(tmp_path / "m.md")])
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["headline"] == {"fid_at_60s": {"gan": 31.2}, "fid_auc_60s": {"gan": 7050.0}}
    assert "fid_at_30s" not in metrics["models"]["gan"] and "fid_at_30s" not in (tmp_path / "m.md").read_text()


def test_bench_prints_the_headline_of_the_last_book(tmp_path, capsys):
    from genviz_utils.bench import print_headline

    path = tmp_path / "metrics.json"
    print_headline(path)
    assert "no curves in" in capsys.readouterr().out                     # no book built yet: says what to run
    path.write_text(json.dumps({"headline": {"fid_at_60s": {"vqvae": 31.55, "gan": 69.96}}}))
    print_headline(path)
    out = capsys.readouterr().out
    assert "fid_at_60s: vqvae 31.55, gan 69.96" in out and "as the last `make book` measured it" in out
    path.write_text(json.dumps({"models": {}}))                           # a book whose chapter 7 drew no curve
    print_headline(path)
    assert "run `make book`" in capsys.readouterr().out
