"""Gather what the notebooks recorded (``genviz_utils.results``) into ``_build/metrics.json`` and a Markdown
table for the book's status page. Run by ``make book`` after the notebooks have executed::

    python -m genviz_utils.report --results _build/results --json _build/metrics.json \
        --markdown book/_generated/metrics.md [--bench _build/bench/bench.json] [--live _build/bench/live.json]

Chapter 7 records, for every model, its Fréchet distance along its training (``fid_curve``: [seconds, FD] pairs, with
``fid_curve_ci``) and two summaries of it, ``fid_at_<T>s`` and ``fid_auc_<T>s`` (the FD at, and the area under the
curve up to, T seconds of training). :func:`headline` gathers these into ``metrics.json["headline"]``, the status page
gets their table and, with ``--markdown`` in ``book/_generated``, a figure of the curves (``fid_curve.png``).

With ``--bench`` and ``--live`` (the outputs of ``make bench``), and when those files exist, the page also gets the
training throughput table and the live explorers' payload and latency (which metrics.json then carries as
``live``). :func:`comparison_table` formats chapter 7's table of its own measurements, in the notebook.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

MODELS = ("ae", "vae", "vqvae", "gan", "vqgan", "ldm")
_KEYS_FIRST = ("fid", "train_seconds", "recon_mse")


def collect(results: Path) -> dict[str, Any]:
    """``{"profile", "device", "models": {name: metrics}}`` from ``<results>/<name>.json`` files.

    ``scoreboard.json`` (written by chapter 7) is not a model: its numbers per model replace the same keys
    recorded by the model's own chapter, so that the scoreboard has one protocol whatever order the notebooks ran in.
    """
    models: dict[str, dict[str, Any]] = {}
    profiles, devices = set(), set()
    for path in sorted(results.glob("*.json")):
        if path.stem == "scoreboard":
            continue
        data = json.loads(path.read_text())
        profiles.add(data.get("profile"))
        devices.add(data.get("device"))
        models[path.stem] = {k: v for k, v in data.items() if k not in ("profile", "device")}
    board = results / "scoreboard.json"
    if board.exists():
        for name, values in json.loads(board.read_text()).items():
            if isinstance(values, dict):
                models.setdefault(name, {}).update(values)
    _drop_other_horizons(models)
    ordered = {m: models.pop(m) for m in MODELS if m in models} | models
    return {
        "profile": ", ".join(sorted(p for p in profiles if p)) or None,
        "device": ", ".join(sorted(d for d in devices if d)) or None,
        "models": ordered,
    }


def _drop_other_horizons(models: dict[str, dict[str, Any]]) -> None:
    """Remove the ``fid_at_<T>s``/``fid_auc_<T>s`` keys of every horizon T but the one chapter 7 recorded last
    (``fid_curve_horizon`` in its ``metrics`` results): a results file merges each run's keys into the last, so a
    run with another horizon would otherwise leave its numbers beside the new ones."""
    horizon = models.get("metrics", {}).get("fid_curve_horizon")
    if horizon is None:
        return
    wanted = {f"fid_at_{horizon:g}s", f"fid_auc_{horizon:g}s"}
    for values in models.values():
        for key in [k for k in values if k.startswith(("fid_at_", "fid_auc_")) and k not in wanted]:
            del values[key]


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """``{"fid_at_<T>s": {model: FD}, "fid_auc_<T>s": {model: FD x s}}`` from the models that recorded a curve:
    the course's headline figure of sample quality against training seconds (empty when no model did)."""
    out: dict[str, dict[str, float]] = {}
    for name, values in metrics["models"].items():
        for key, v in values.items():
            if key.startswith(("fid_at_", "fid_auc_")) and key.endswith("s") and "fid_curve" in values:
                out.setdefault(key, {})[name] = v
    return out


def curves_markdown(metrics: dict[str, Any], figure: str | None = None) -> list[str]:
    """The status page's section on sample quality against training seconds: the figure (``figure``: its path as
    the page sees it) and one row per model with a curve: the headline numbers and every point [seconds: FD]."""
    rows = {name: v for name, v in metrics["models"].items() if "fid_curve" in v}
    if not rows:
        return []
    keys = sorted(headline(metrics))
    lines = ["### Sample quality against training seconds", "",
             "Chapter 7 scores each model's weights kept along its training (`milestones`) by the Fréchet distance "
             "of its samples, against the wall-clock seconds of training that the chapters' runs had spent (the "
             "two-stage models, the VQ models and the LDM: both stages; the perceptual network not counted). "
             "`fid_at_<T>s`: the FD of the last milestone reached by T seconds; `fid_auc_<T>s`: the area under "
             "that step function from 0 to T in FD x seconds (lower is better; before a model can sample it is "
             "charged the FD of uniform noise).",
             ""]
    if figure:
        lines += [f"![Fréchet distance against seconds of training]({figure})", "",
                  "*The Fréchet distance of each model's samples (log scale) against the seconds of training its "
                  "weights had had; a vertical bar is the 95 % bootstrap interval of a point. The last point of a "
                  "chapter model's curve holds the weights that chapter 7's scoreboard scores, with another draw of "
                  "samples. `vqvae_continued` is chapter 7's control (the VQ-VAE trained on to the VQ-GAN's "
                  "budget): drawn, without headline numbers.*", ""]
    lines += ["| model | " + " | ".join(f"`{k}`" for k in keys) + " | curve: seconds → FD |",
              "|---" * (len(keys) + 2) + "|"]
    for name, v in rows.items():
        points = ", ".join(f"{t:.0f} s → {fd:.3g}" for t, fd in v["fid_curve"])
        lines.append(f"| `{name}` | " + " | ".join(_fmt(v.get(k, "—")) for k in keys) + f" | {points} |")
    return [*lines, ""]


def plot_curves(metrics: dict[str, Any], path: Path) -> bool:
    """Draw every recorded ``fid_curve`` (with its ``fid_curve_ci``) into ``path``; False (no file) if none."""
    rows = {name: v for name, v in metrics["models"].items() if "fid_curve" in v}
    if not rows:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 3.8))
    for name, v in rows.items():
        t, fd = zip(*v["fid_curve"], strict=True)
        line, = ax.plot(t, fd, marker="o", ms=4, label=name)
        if v.get("fid_curve_ci"):   # the intervals as segments: an FD may lie outside its own bootstrap interval
            lows, highs = zip(*v["fid_curve_ci"], strict=True)
            ax.vlines(t, lows, highs, color=line.get_color(), lw=1)
    ax.set(yscale="log", xlabel="seconds of training (all stages)", ylabel="Fréchet distance")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | tuple):  # an interval [low, high], say
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return str(v)


# The scoreboard's columns: (key in the results, heading). Written by chapter 7 for every model.
SCOREBOARD = (("fid", "FD-FMNIST-CNN ↓"), ("precision", "precision ↑"), ("recall", "recall ↑"),
              ("recon_mse", "recon. MSE ↓"), ("recon_psnr", "PSNR dB ↑"),
              ("total_train_seconds", "train s, all stages"), ("sample_img_per_s", "samples/s"))


def scoreboard(metrics: dict[str, Any]) -> list[str]:
    """One row per model that recorded at least one scoreboard column (empty list if none did)."""
    rows = [(name, v) for name, v in metrics["models"].items() if any(k in v for k, _ in SCOREBOARD)]
    if not rows:
        return []
    lines = ["| model | " + " | ".join(h for _, h in SCOREBOARD) + " |", "|---" * (len(SCOREBOARD) + 1) + "|"]
    for name, v in rows:
        lines.append(f"| `{name}` | " + " | ".join(_fmt(v[k]) if k in v else "—" for k, _ in SCOREBOARD) + " |")
    return ["### Scoreboard", "", *lines, "", "Every number each chapter recorded, model by model:", ""]


# Chapter 7's comparison table: (heading, key in a model's row, format). Two bits/dim columns, which do not compare:
# a bound on the likelihood of the (binarised) image (the VAE's) and a token prior's bits spread over the pixels,
# which leave out what the decoder adds. The cost columns count every stage that trains the model (the priors' token
# maps and the denoiser's latents are not images seen; the perceptual network of the VQ-GAN and the LDM, trained
# apart, is not counted).
COMPARISON = (("{feature_name} ↓", "fid", ".2f"), ("precision ↑", "precision", ".3f"), ("recall ↑", "recall", ".3f"),
              ("MSE ↓", "recon_mse", ".4f"), ("PSNR of the MSE, dB ↑", "recon_psnr", ".1f"),
              ("pixel NLL bound, bits/dim ↓", "nll_bits_per_dim", ".3f"),
              ("token prior, bits/dim", "prior_bits_per_dim", ".3f"), ("parameters", "params", ",.0f"),
              ("images seen", "images_seen", ",.0f"), ("train s", "train_seconds", ".0f"),
              ("samples/s", "sample_img_per_s", ",.0f"))
_REFERENCE_KEYS = ("fid", "precision", "recall")
# The optional uncertainties of a row (comparison_table's docstring): the KID column's heading and number format.
KID_HEADING, KID_SPEC = "KID ± std ↓", ".2f"


def _cell(v: float | None, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def _fid_cell(row: dict[str, Any], spec: str) -> str:
    ci = row.get("fid_ci")
    return _cell(row["fid"], spec) + ("" if ci is None else f" [{ci[0]:{spec}}, {ci[1]:{spec}}]")


def _kid_cell(row: dict[str, Any]) -> str:
    if row.get("kid") is None:
        return "—"
    std = row.get("kid_std")
    return format(row["kid"], KID_SPEC) + ("" if std is None else f" ± {std:{KID_SPEC}}")


def _comparison_cells(row: dict[str, Any], with_kid: bool) -> list[str]:
    """One row's cells of the comparison table, in the order of COMPARISON (the KID after the FD if with_kid)."""
    cells = [_fid_cell(row, spec) if key == "fid" else _cell(row.get(key), spec) for _, key, spec in COMPARISON]
    return cells[:1] + [_kid_cell(row)] + cells[1:] if with_kid else cells


def _check_uncertainties(name: str, row: dict[str, Any]) -> None:
    ci = row.get("fid_ci")
    if ci is not None and (len(ci) != 2 or not ci[0] <= ci[1]):
        raise ValueError(f"{name!r}: fid_ci must be an interval (low, high) with low <= high, got {ci!r} (pass "
                         "bootstrap_interval's result as it is).")
    if row.get("kid_std") is not None and row.get("kid") is None:
        raise ValueError(f"{name!r} has a kid_std but no kid: pass both of kid()'s (mean, std).")


def comparison_table(board: dict[str, dict[str, Any]], labels: dict[str, str], sources: dict[str, str],
                     reference: dict[str, Any], feature_name: str = "FD-FMNIST-CNN",
                     reference_label: str = "train data (reference)") -> str:
    """Chapter 7's scoreboard as a Markdown table: one row per model of ``board``, then the reference row.

    ``board``: {name: {"fid", "precision", "recall", and any of "recon_mse", "recon_psnr", "nll_bits_per_dim",
    "prior_bits_per_dim", "params", "images_seen", "train_seconds", "sample_img_per_s"}}, in the order of the
    rows; a missing entry (or None) is shown as "—". ``labels`` and ``sources`` give each model's name in the table
    and where it came from; ``reference`` the "fid", "precision" and "recall" of real training images against the
    same test images. A pixel likelihood bound and a token prior's bits have a column each: they do not compare
    (the prior's bits leave out what the decoder adds). Any row (the reference too) may carry uncertainties:
    ``fid_ci`` (low, high), a 95% interval shown as "value [low, high]", and ``kid`` with ``kid_std``, shown as
    "mean ± std" in a KID column after the FD that the table has only when some row has a ``kid``.
    """
    missing = [n for n in board if n not in labels or n not in sources]
    if missing:
        raise ValueError(f"no label or source for {missing}: pass labels={{name: ...}} and sources={{name: ...}} "
                         "for every model of the board.")
    for name, row in [*board.items(), (reference_label, reference)]:
        absent = [k for k in _REFERENCE_KEYS if row.get(k) is None]
        if absent:
            raise ValueError(f"{name!r} has no {absent}: every row needs the sample metrics fid, precision and "
                             "recall (compute them before formatting the table).")
        _check_uncertainties(name, row)
    with_kid = any(row.get("kid") is not None for row in [*board.values(), reference])
    head = ["model", "source", *(h.format(feature_name=feature_name) for h, _, _ in COMPARISON)]
    if with_kid:
        head.insert(3, KID_HEADING)
    rows = [[labels[name], sources[name], *_comparison_cells(b, with_kid)] for name, b in board.items()]
    shown = {k: v for k, v in reference.items() if k in (*_REFERENCE_KEYS, "fid_ci", "kid", "kid_std")}
    rows.append([reference_label, "—", *_comparison_cells(shown, with_kid)])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def to_markdown(metrics: dict[str, Any], curve_figure: str | None = None) -> str:
    """A scoreboard (models as rows), the sample quality against training seconds (with the figure at
    ``curve_figure``, if given), then one table per model: metric name and value."""
    if not metrics["models"]:
        return "No chapter has recorded results yet: run `make book`.\n"
    lines = [f"Profile: **{metrics['profile']}**; device: **{metrics['device']}**.", "",
             *curves_markdown(metrics, curve_figure), *scoreboard(metrics)]
    for name, values in metrics["models"].items():
        keys = [k for k in _KEYS_FIRST if k in values] + sorted(k for k in values if k not in _KEYS_FIRST)
        lines += [f"### `{name}`", "", "| metric | value |", "|---|---|"]
        lines += [f"| `{k}` | {_fmt(values[k])} |" for k in keys]
        lines.append("")
    return "\n".join(lines)


def bench_markdown(bench: dict[str, Any]) -> str:
    """The table of ``make bench``: one row per model, the img/s of each rung of the ladder, then the totals."""
    peak, peak_bf16 = bench.get("peak_gflops", float("nan")), bench.get("peak_gflops_bf16")
    peaks = f"**{peak:.0f} GFLOP/s** in float32" + (f", **{peak_bf16:.0f}** in bfloat16" if peak_bf16 else "")
    lines = ["## Training throughput (`make bench`)", "",
             f"Device: **{bench.get('device')}**, the course's loop in **{bench.get('precision', 'fp32')}**; "
             f"measured matrix-multiply peak {peaks}. Images per second of one training step (each chapter's "
             "model, loss and batch size), fed four ways, each adding one change to the one before: `tutorial` = "
             "torchvision's `FashionMNIST` + `ToTensor` through a `DataLoader`, float32 (the baseline); "
             "`resident` = the split held as one tensor, batches sliced from it; `channels_last` = the "
             "convolution weights in that layout; `course` = plus mixed precision where the hardware has it, "
             "which is what `genviz_utils.training.train` does. All rungs are measured in alternating rounds of "
             "the same run, in one process whose memory allocator is set up as `train` does it. Utilization is the "
             "counted FLOP rate of the `course` rung divided by the peak of the precision used.", "",
             "| model | batch | tutorial | resident | channels_last | course | speedup | GFLOP/s | utilization "
             "| fp32 utilization |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    fresh = {}
    for name, m in bench.get("models", {}).items():
        ladder = m.get("ladder") or {"tutorial": m["baseline_img_s"], "course": m["img_s"]}
        cells = " | ".join("—" if ladder.get(k) is None else f"{ladder[k]:.0f}" for k in
                           ("tutorial", "resident", "channels_last", "course"))
        fp32 = m.get("utilization_fp32")
        lines.append(f"| `{name}` | {m.get('batch_size', bench.get('batch_size', '—'))} | {cells} "
                     f"| {ladder['course'] / ladder['tutorial']:.2f}x | {m['gflops']:.1f} "
                     f"| {100 * m['utilization']:.0f} % | {'—' if fp32 is None else f'{100 * fp32:.0f} %'} |")
        if m.get("fresh_process"):
            fresh[name] = m["fresh_process"]
    if fresh:
        lines += ["", "End to end, as a reader meets it: each pipeline in a new Python process (the tutorial script "
                  "with the memory allocator's defaults, the course's loop as `train` runs it), alternately. In a "
                  "fresh process glibc returns freed activation memory to the system and page-faults it back at "
                  "every step; `train` keeps it (`genviz_utils.runtime.keep_freed_memory`).", "",
                  "| model | tutorial script | course's loop | speedup |", "|---|---|---|---|"]
        lines += [f"| `{name}` | {r['tutorial']:.0f} | {r['course']:.0f} | {r['speedup']:.2f}x |"
                  for name, r in fresh.items()]
    hot = {name: m["top_ops"] for name, m in bench.get("models", {}).items() if m.get("top_ops")}
    if hot:
        lines += ["", "Where the course's step spends its time (profiler, self time of the largest operators):", ""]
        lines += [f"- `{name}`: " + ", ".join(f"`{op.removeprefix('aten::')}` {100 * share:.0f} %"
                                              for op, share in ops.items()) for name, ops in hot.items()]
    sweep = bench.get("batch_sweep")
    if sweep:
        lines += ["", f"Batch size, `{sweep['model']}` (img/s):", "", "| batch | tutorial | course | speedup |",
                  "|---|---|---|---|"]
        lines += [f"| {bs} | {r['tutorial']:.0f} | {r['course']:.0f} | {r['speedup']:.2f}x |"
                  for bs, r in sweep["rows"].items()]
    prior = bench.get("prior_maps_s")
    if prior:
        lines += ["", f"Chapter 3's token prior (a small transformer, batch 32) trains at {prior['fp32']:.0f} token "
                  f"maps/s in float32 and {prior['bf16']:.0f} in bfloat16 here, so the chapters train it in float32."]
    return "\n".join(lines) + "\n"


def live_markdown(live: dict[str, Any]) -> str:
    """The table of ``tools/live_bench.py`` (run by ``make bench`` on a built site): per page, the live explorers'
    payload, the time from the start of loading to the last of their first images, and the time of one redraw."""
    lines = ["## Live explorers (`make bench`)", "",
             "Measured in headless Chromium on this machine, the site served locally. *First image*: from the start "
             "of loading the page to the last of its explorers' first images (it includes reading the page up to "
             "each explorer). *Own first image*: the slowest explorer's time from its script's start to its first "
             "image. *Redraw*: one evaluation of each explorer's network (median of 20).", "",
             "| page | explorers | payload (MB) | gzip (MB) | first image (ms) | own first image (ms) | redraw (ms) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for page, r in live.items():
        first = max(r.get("first_image_ms", {}).values(), default=float("nan"))
        own = max(r.get("own_first_image_ms", {}).values(), default=float("nan"))
        redraw = ", ".join(f"{v:.1f}" for v in r.get("redraw_ms", {}).values()) or "—"
        lines.append(f"| {page} | {r.get('explorers', 0)} | {r.get('payload_bytes', 0) / 1e6:.2f} | "
                     f"{r.get('payload_gzip_bytes', 0) / 1e6:.2f} | {first:.0f} | {own:.0f} | {redraw} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--markdown", type=Path, required=True)
    ap.add_argument("--bench", type=Path, help="bench.json of `make bench`, shown when it exists")
    ap.add_argument("--live", type=Path, help="live.json of `make bench` (tools/live_bench.py), shown when it exists")
    args = ap.parse_args(argv)
    metrics = collect(args.results) if args.results.is_dir() else {"profile": None, "device": None, "models": {}}
    live = json.loads(args.live.read_text()) if args.live is not None and args.live.exists() else None
    if live is not None:
        metrics["live"] = live
    if headline(metrics):
        metrics["headline"] = headline(metrics)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(metrics, indent=2))
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    # the figure lies next to the Markdown file, which the status page includes from one folder up
    figure = args.markdown.parent / "fid_curve.png"
    drawn = plot_curves(metrics, figure)
    if not drawn:
        figure.unlink(missing_ok=True)
    text = to_markdown(metrics, f"{args.markdown.parent.name}/{figure.name}" if drawn else None)
    if args.bench is not None and args.bench.exists():
        text += "\n" + bench_markdown(json.loads(args.bench.read_text()))
    elif args.bench is not None:
        text += ("\n## Training throughput (`make bench`)\n\nNot measured for this build: run `make bench` before "
                 "`make book` to add the table of training speeds.\n")
    if live is not None:
        text += "\n" + live_markdown(live)
    if not args.markdown.exists() or args.markdown.read_text() != text:  # unchanged file: no Sphinx rebuild
        args.markdown.write_text(text)
    print(f"wrote {args.json} ({len(metrics['models'])} chapters) and {args.markdown}")


if __name__ == "__main__":
    main()
