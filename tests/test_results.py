"""Recorded numbers (results) and the status-page report."""

import json
import os

import pytest

from genviz_utils import report
from genviz_utils.report import collect, main, to_markdown
from genviz_utils.results import read, record, results_dir


def test_results_dir_follows_env(tmp_path):
    assert results_dir() == tmp_path / "results" and results_dir().is_dir()


def test_record_merges_and_reads_back(tmp_path):
    assert read("vae") == {}
    path = record("vae", fid=1.5, profile="smoke", device="cpu")
    assert path == tmp_path / "results" / "vae.json"
    record("vae", train_seconds=3.0, fid=1.25)  # later values win, others are kept
    assert read("vae") == {"fid": 1.25, "train_seconds": 3.0, "profile": "smoke", "device": "cpu"}
    assert json.loads(path.read_text()) == read("vae")
    assert sorted(p.name for p in path.parent.iterdir()) == ["vae.json"]  # no temp files
    assert read("ae") == {}


def test_record_converts_numpy_like_values():
    np = pytest.importorskip("numpy")
    record("ae", recon_mse=np.float32(0.25), n=3)
    assert read("ae") == {"recon_mse": 0.25, "n": 3}


def test_read_of_a_corrupt_file_is_empty_and_record_repairs_it():
    (results_dir() / "gan.json").write_text("{not json")
    assert read("gan") == {}
    record("gan", fid=9.0)
    assert read("gan") == {"fid": 9.0}


def _fill(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name, d in {
        "gan": {"fid": 30.0, "profile": "smoke", "device": "cpu"},
        "zeta": {"x": 1},
        "vqvae": {"recon_mse": 0.02, "profile": "smoke", "device": "cuda"},
        "ae": {"recon_mse": 0.03, "train_seconds": 12.0, "alpha": 1, "profile": "smoke", "device": "cpu"},
        "alpha": {"y": 2},
        "vae": {"fid": 40.123456, "kl": {"mean": 3.0, "max": 5}, "profile": "book", "device": "cpu"},
    }.items():
        (folder / f"{name}.json").write_text(json.dumps(d))


def test_collect_shape_and_order(tmp_path):
    _fill(tmp_path / "r")
    m = collect(tmp_path / "r")
    assert set(m) == {"profile", "device", "models"}
    assert list(m["models"]) == ["ae", "vae", "vqvae", "gan", "alpha", "zeta"]
    assert m["profile"] == "book, smoke" and m["device"] == "cpu, cuda"
    assert m["models"]["ae"] == {"recon_mse": 0.03, "train_seconds": 12.0, "alpha": 1}  # profile/device lifted out


def test_scoreboard_numbers_win_whatever_ran_last(tmp_path):
    _fill(tmp_path / "r")
    (tmp_path / "r" / "scoreboard.json").write_text(json.dumps({"gan": {"fid": 31.5, "recall": 0.4}}))
    (tmp_path / "r" / "gan.json").write_text(json.dumps({"fid": 29.0, "img_s": 100.0}))   # the chapter ran later
    m = collect(tmp_path / "r")
    assert m["models"]["gan"] == {"fid": 31.5, "recall": 0.4, "img_s": 100.0}
    assert "scoreboard" not in m["models"]


def test_collect_empty_folder(tmp_path):
    assert collect(tmp_path) == {"profile": None, "device": None, "models": {}}


def test_to_markdown(tmp_path):
    _fill(tmp_path / "r")
    md = to_markdown(collect(tmp_path / "r"))
    assert md.startswith("Profile: **book, smoke**; device: **cpu, cuda**.")
    assert md.index("### `ae`") < md.index("### `vae`") < md.index("### `vqvae`") < md.index("### `gan`")
    ae = md[md.index("### `ae`"):md.index("### `vae`")]
    # fid, train_seconds, recon_mse first, then the rest alphabetically
    assert ae.index("`train_seconds`") < ae.index("`recon_mse`") < ae.index("`alpha`")
    assert "| `fid` | 40.12 |" in md and "| `kl` | mean: 3, max: 5 |" in md
    assert "No chapter" in to_markdown({"profile": None, "device": None, "models": {}})


def test_main_writes_json_and_markdown(tmp_path, capsys):
    record("vae", fid=1.5, profile="smoke", device="cpu")
    record("ae", recon_mse=0.1, profile="smoke", device="cpu")
    out_json, out_md = tmp_path / "b" / "metrics.json", tmp_path / "g" / "metrics.md"
    argv = ["--results", str(results_dir()), "--json", str(out_json), "--markdown", str(out_md)]
    main(argv)
    m = json.loads(out_json.read_text())
    assert m == {"profile": "smoke", "device": "cpu", "models": {"ae": {"recon_mse": 0.1}, "vae": {"fid": 1.5}}}
    assert list(m["models"]) == ["ae", "vae"]
    assert out_md.read_text() == to_markdown(m)
    assert "2 chapters" in capsys.readouterr().out
    # unchanged Markdown is not rewritten (no needless Sphinx rebuild)
    os.utime(out_md, (1_000_000, 1_000_000))
    main(argv)
    assert out_md.stat().st_mtime == 1_000_000
    record("gan", fid=3.0)
    main(argv)
    assert out_md.stat().st_mtime != 1_000_000 and "### `gan`" in out_md.read_text()


def test_main_without_results_folder(tmp_path):
    main(["--results", str(tmp_path / "none"), "--json", str(tmp_path / "m.json"), "--markdown",
          str(tmp_path / "m.md")])
    assert json.loads((tmp_path / "m.json").read_text()) == {"profile": None, "device": None, "models": {}}
    assert "No chapter has recorded results yet" in (tmp_path / "m.md").read_text()


def test_models_order_constant():
    assert report.MODELS[:4] == ("ae", "vae", "vqvae", "gan")


def test_main_requires_arguments():
    with pytest.raises(SystemExit):
        main([])


def test_bench_table_on_the_status_page(tmp_path):
    bench = {"device": "cpu", "precision": "bf16", "peak_gflops": 400.0, "peak_gflops_bf16": 800.0,
             "models": {"ae": {"batch_size": 128, "img_s": 9000.0, "baseline_img_s": 6000.0, "speedup": 1.5,
                               "gflops": 160.0, "utilization": 0.2, "utilization_fp32": 0.3,
                               "ladder": {"tutorial": 6000.0, "resident": 7000.0, "channels_last": 7500.0,
                                          "course": 9000.0}}}}
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    md = tmp_path / "m.md"
    argv = ["--results", str(tmp_path / "none"), "--json", str(tmp_path / "m.json"), "--markdown", str(md)]
    main(argv)
    assert "throughput" not in md.read_text()
    main(argv + ["--bench", str(tmp_path / "missing.json")])
    assert "Not measured for this build: run `make bench`" in md.read_text()
    main(argv + ["--bench", str(tmp_path / "bench.json")])
    text = md.read_text()
    assert "| `ae` | 128 | 6000 | 7000 | 7500 | 9000 | 1.50x | 160.0 | 20 % | 30 % |" in text
    assert "End to end" not in text
    bench["models"]["ae"]["fresh_process"] = {"tutorial": 4000.0, "course": 8000.0, "speedup": 2.0}
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    main(argv + ["--bench", str(tmp_path / "bench.json")])
    assert "| `ae` | 4000 | 8000 | 2.00x |" in md.read_text()
    bench["models"]["ae"]["top_ops"] = {"aten::convolution_backward": 0.4, "aten::silu_backward": 0.1}
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    main(argv + ["--bench", str(tmp_path / "bench.json")])
    assert "- `ae`: `convolution_backward` 40 %, `silu_backward` 10 %" in md.read_text()
    assert "**400 GFLOP/s** in float32, **800** in bfloat16" in text and "in **bf16**" in text
    assert "token prior" not in text
    bench["prior_maps_s"] = {"fp32": 2400.0, "bf16": 1300.0}
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    main(argv + ["--bench", str(tmp_path / "bench.json")])
    assert "trains at 2400 token maps/s in float32 and 1300 in bfloat16" in md.read_text()
    bench["batch_sweep"] = {"model": "ae", "rows": {"32": {"tutorial": 3000.0, "course": 4000.0, "speedup": 4 / 3}}}
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    main(argv + ["--bench", str(tmp_path / "bench.json")])
    assert "| 32 | 3000 | 4000 | 1.33x |" in md.read_text()
    del bench["models"]["ae"]["ladder"], bench["models"]["ae"]["utilization_fp32"], bench["peak_gflops_bf16"]
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    main(argv + ["--bench", str(tmp_path / "bench.json")])   # an older file without the ladder still renders
    assert "| `ae` | 128 | 6000 | — | — | 9000 | 1.50x | 160.0 | 20 % | — |" in md.read_text()


def test_scoreboard_rows_are_models(tmp_path):
    _fill(tmp_path / "r")
    md = to_markdown(collect(tmp_path / "r"))
    board = md[md.index("### Scoreboard"):md.index("### `ae`")]
    assert "| `gan` | 30 | — |" in board and "| `vae` | 40.12 |" in board
    assert "`zeta`" not in board and "`alpha`" not in board          # they recorded no scoreboard column
    assert "Scoreboard" not in to_markdown({"profile": None, "device": None, "models": {"x": {"y": 1}}})
