"""Measure a chapter model's recipe by chapter 7's protocol: train a variant, score 2,000 samples.

Usage: ``python tools/tune.py gan base ema hinge ...`` (names from ``GAN_VARIANTS``/``VAE_VARIANTS``/
``VQVAE_VARIANTS``/``LDM_VARIANTS``), one JSON line per variant (per sampler, for the GAN, the VQ-VAE and the
latent diffusion model) on stdout: training seconds,
FD-FMNIST-CNN with a bootstrap 95 % interval, precision, recall (for the VAE also the -IWAE bound of chapter 2's
table, on its first 500 test images binarised as there; for the VQ-VAE the FD of its reconstructions as the sampler
``recon``, beside the prior's samples at each temperature; for the latent diffusion model likewise, its samples at each
guidance scale). The rows
behind each chapter's "What we tuned, and why" note are kept in ``tools/tuning/<family>.jsonl``. Chapter 7 scores the
models the chapters actually train; this script only compares recipes, from training seed 0 unless
``--set seed=N`` (the GAN, the VAE, the VQ-VAE and the latent diffusion model: the initial weights and every random
draw of the training; the batches keep seed 0's order) says otherwise.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from genviz_utils.checkpoint import load_checkpoint
from genviz_utils.data import load_images
from genviz_utils.features import PR_LAYER, embed, feature_extractor
from genviz_utils.metrics import bootstrap_interval, fd_from_features, precision_recall
from genviz_utils.model_zoo import _train_chapter3_vqvae, train_chapter3_prior
from genviz_utils.models.gan import (
    Discriminator,
    Generator,
    d_hinge_loss,
    d_loss,
    dcgan_step,
    g_hinge_loss,
    g_loss_nonsaturating,
)
from genviz_utils.models.vae import ConvVAE, iwae_bound, neg_elbo
from genviz_utils.models.vq import tokenize_all
from genviz_utils.runtime import eval_mode, seed_everything
from genviz_utils.training import autocast, train

N_EVAL = 2_000


def score(samples: torch.Tensor, phi, real: torch.Tensor) -> dict:
    f_real, f_fake = embed(phi, real), embed(phi, samples)
    low, high = bootstrap_interval(fd_from_features, f_real, f_fake, 100, generator=torch.Generator().manual_seed(0))
    p, r = precision_recall(embed(phi, real, PR_LAYER), embed(phi, samples, PR_LAYER))
    return {"fid": round(fd_from_features(f_real, f_fake), 2), "ci": [round(low, 2), round(high, 2)],
            "precision": round(p, 3), "recall": round(r, 3)}


# ----- GAN --------------------------------------------------------------------------------------------------------

GAN_BASE = dict(steps=4_000, batch=64, width=32, lr_g=2e-4, lr_d=2e-4, loss="ns", spectral=False, ema=0.0,
                norm=True, seed=0)
# the variants measured for the notes in chapters 2 and 4 (rows in tools/tuning/); add new ones here
GAN_VARIANTS = {
    "base": {},
    "ema": dict(ema=0.999),
    "ema_hinge": dict(ema=0.999, loss="hinge"),
    "ema99": dict(ema=0.99),
    "ema99_lr": dict(ema=0.99, lr_g=5e-4, lr_d=5e-4),
    "lr1e3": dict(ema=0.99, lr_g=1e-3, lr_d=1e-3),
    "lr5_b128": dict(ema=0.99, lr_g=5e-4, lr_d=5e-4, batch=128, steps=2_500),
    "lr5_g1e3": dict(ema=0.99, lr_g=1e-3, lr_d=5e-4),
    "ema_ttur": dict(ema=0.999, lr_d=4e-4, lr_g=1e-4),
}


def run_gan(x_train: torch.Tensor, cfg: dict) -> tuple[dict[str, torch.Tensor], float]:
    """Train the variant ``cfg``; returns 2,000 samples (N, 1, 28, 28) in [0, 1] per sampler, and the seconds."""
    seed_everything(cfg["seed"])                 # the training seed (--set seed=N)
    G = Generator(64, width=cfg["width"])
    D = Discriminator(width=cfg["width"], norm=cfg["norm"], spectral=cfg["spectral"])
    opt_g = torch.optim.Adam(G.parameters(), cfg["lr_g"], betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), cfg["lr_d"], betas=(0.5, 0.999))
    ema = AveragedModel(G, multi_avg_fn=get_ema_multi_avg_fn(cfg["ema"]), use_buffers=True) if cfg["ema"] else None
    losses = (d_hinge_loss, g_hinge_loss) if cfg["loss"] == "hinge" else (d_loss, g_loss_nonsaturating)

    def step(batch):
        out = dcgan_step(G, D, opt_g, opt_d, batch[0], losses=losses)   # images in [0, 1], scaled inside
        if ema is not None:
            ema.update_parameters(G)
        return out

    h = train(step, x_train, steps=cfg["steps"], batch_size=cfg["batch"], state={"G": G, "D": D}, desc="GAN",
              progress=False)
    nets = {"G": G} | ({"ema": ema.module, "ema_recal": recalibrated(ema.module)} if ema is not None else {})
    out = {}
    for key, net in nets.items():
        seed_everything(1)
        with torch.no_grad(), eval_mode(net):
            out[key] = ((net(torch.randn(N_EVAL, 64)) + 1) / 2).float()
    seed_everything(1)
    with torch.no_grad():   # batch statistics of 64 samples, as in training
        out["G_trainmode"] = torch.cat([(G.train()(torch.randn(64, 64)) + 1) / 2
                                        for _ in range(N_EVAL // 64 + 1)])[:N_EVAL].float()
    return out, h.seconds


def truncated_samples(checkpoint: Path, temperatures: list[str]) -> dict[str, torch.Tensor]:
    """2,000 samples of a trained generator (chapter 4's ``gan.pt``, say) per noise scale T in ``temperatures``:
    z ~ N(0, T^2 I), the truncation that trades recall for precision; the same noise (seed 1) at every T."""
    from genviz_utils.model_zoo import sample_gan
    from genviz_utils.models.registry import load_model

    G = load_model(checkpoint, "G", "cpu").eval()
    out = {}
    for t in temperatures:
        seed_everything(1)
        with torch.no_grad():
            out[f"T{t}"] = sample_gan(G, N_EVAL, temperature=float(t)).float()
    return out


def recalibrated(G: Generator, batches: int = 50) -> Generator:
    """A copy of G whose BatchNorm running statistics are re-measured on its own batches of 64 noise vectors."""
    G = copy.deepcopy(G)
    for m in G.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None                      # a plain average over the batches
    G.train()
    with torch.no_grad():
        for _ in range(batches):
            G(torch.randn(64, G.z_dim))
    return G.eval()


# ----- VAE --------------------------------------------------------------------------------------------------------

VAE_BASE = dict(steps=1_800, batch=128, latent=16, width=32, lr=2e-3, sched="const", warmup=0, seed=0)
VAE_VARIANTS = {
    "base": {},
    "cos": dict(sched="cos"),
    "cos_l32": dict(sched="cos", latent=32),
    "cos_w48": dict(sched="cos", width=48),
    "cos_warm": dict(sched="cos", warmup=500),
    "lr4e3": dict(lr=4e-3),
    "lr6e3": dict(lr=6e-3),
    "lr4e3_l32": dict(lr=4e-3, latent=32),
    "lr4e3_cos": dict(lr=4e-3, sched="cos"),
    "b64": dict(batch=64, steps=3_600),
    "s3600": dict(steps=3_600),
    "l32_s3600": dict(steps=3_600, latent=32),
    "lr4e3_s3600": dict(lr=4e-3, steps=3_600),
    "lr4e3_l32_s3600": dict(lr=4e-3, steps=3_600, latent=32),
    "lr4e3_s4800": dict(lr=4e-3, steps=4_800),
}


def run_vae(x_train: torch.Tensor, cfg: dict) -> tuple[ConvVAE, torch.Tensor, float]:
    seed_everything(cfg["seed"])                 # the training seed (--set seed=N)
    model = ConvVAE(cfg["latent"], cfg["width"])
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg["steps"]) if cfg["sched"] == "cos"
             else torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0))
    count = {"step": 0}

    def step(batch):
        (x,) = batch
        beta = min(1.0, count["step"] / cfg["warmup"]) if cfg["warmup"] else 1.0
        loss, rec, kl = neg_elbo(model, x, beta=beta)
        loss = loss.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        count["step"] += 1
        return {"loss": loss}

    h = train(step, x_train, steps=cfg["steps"], batch_size=cfg["batch"], state={"model": model},
              desc="VAE", progress=False)
    model.eval()
    seed_everything(1)
    with torch.no_grad():
        samples = model.decode(torch.randn(N_EVAL, cfg["latent"]))
    return model, samples.float(), h.seconds


# ----- VQ-VAE + token prior --------------------------------------------------------------------------------------

VQVAE_BASE = dict(steps=480, batch=128, lr=2e-3, width=32, codes=64, dim=16, prior_maps=20_000, prior_steps=1_200,
                  prior_batch=32, prior_lr=8e-3, layers=2, embd=64, temps="1.0,0.9,0.8", seed=0)
VQVAE_VARIANTS = {
    "base": {},
    "s960": dict(steps=960),
    "lr4e3": dict(lr=4e-3),
    "p2400": dict(prior_steps=2_400),
    "p_maps60k": dict(prior_maps=60_000, prior_steps=2_400),
    "p_embd128": dict(embd=128),
    "p_layers4": dict(layers=4),
    "p_b64": dict(prior_batch=64),
    "s960_p2400": dict(steps=960, prior_steps=2_400),
    "s960_p2400_60k": dict(steps=960, prior_steps=2_400, prior_maps=60_000),
    "lr4e3_s960_p2400": dict(lr=4e-3, steps=960, prior_steps=2_400),
    "lr4e3_s960_p2400_60k": dict(lr=4e-3, steps=960, prior_steps=2_400, prior_maps=60_000),
    "lr4e3_s960_p4800_60k": dict(lr=4e-3, steps=960, prior_steps=4_800, prior_maps=60_000),
    "lr4e3_s960_p2400_60k_e96": dict(lr=4e-3, steps=960, prior_steps=2_400, prior_maps=60_000, embd=96),
    "lr4e3_s960_p2400_60k_b64": dict(lr=4e-3, steps=960, prior_steps=2_400, prior_maps=60_000, prior_batch=64),
    "lr4e3_s960_p2400_60k_b128": dict(lr=4e-3, steps=960, prior_steps=2_400, prior_maps=60_000, prior_batch=128),
}


def run_vqvae(x_train: torch.Tensor, cfg: dict, folder: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Chapter 3's two stages with ``cfg``: 2,000 reconstructions of training images (``recon``: what the tokenizer
    alone allows) and 2,000 prior samples per temperature in ``cfg["temps"]``; the seconds of each training."""
    model = _train_chapter3_vqvae(x_train, cfg["steps"], cfg["batch"], folder / "vqvae.pt", "VQ-VAE", "cpu",
                                  lr=cfg["lr"], progress=False, num_codes=cfg["codes"], code_dim=cfg["dim"],
                                  width=cfg["width"], seed=cfg["seed"]).eval()
    tokens = tokenize_all(model, x_train[:cfg["prior_maps"]])
    prior, h = train_chapter3_prior(tokens, cfg["codes"], cfg["prior_steps"], cfg["prior_batch"], cfg["prior_lr"],
                                    folder / "prior.pt", "prior", n_layer=cfg["layers"], n_embd=cfg["embd"],
                                    progress=False, seed=cfg["seed"])
    seconds = {"tokenizer_seconds": round(load_checkpoint(folder / "vqvae.pt")["history"]["seconds"], 1),
               "prior_seconds": round(h.seconds, 1)}
    with torch.no_grad():
        out = {"recon": model(x_train[-N_EVAL:])[0].clamp(0, 1).float()}
        for t in cfg["temps"].split(","):
            out[f"T{t}"] = model.decode_tokens(prior.sample(N_EVAL, temperature=float(t),
                                                            generator=torch.Generator().manual_seed(1)))
            out[f"T{t}"] = out[f"T{t}"].clamp(0, 1).float()
    return out, seconds


# ----- latent diffusion (chapter 6) ---------------------------------------------------------------------------------

LDM_BASE = dict(ae_steps=1_000, disc_start=600, kl_weight=1e-4, ae_lr=2e-3, latent=4, denoiser="mlp", hidden=256,
                depth=4, steps=4_000, lr=2e-3, batch=256, schedule="cosine", ema=0.995, p_uncond=0.1,
                ddim_steps=25, clip=3.0, ws="0,1,2,3", precision="auto", space="latent", budget_s=0.0, widths="",
                ae_precision="auto", seed=0)
# the variants with rows in tools/tuning/ldm.jsonl: base, ae600, conv64, ae600_s2000, ae600_fp32, ae600_h128_s8000,
# ae600_b512_s2000 (and ae600 again, both with the fused AdamW), ae600_w2 and ae600_aefp32_w2 over seeds 0-5
LDM_VARIANTS = {
    "base": {},
    "linear": dict(schedule="linear"),
    "noclip": dict(clip=0.0),
    "h512": dict(hidden=512),
    "s2000": dict(steps=2_000),
    "s8000": dict(steps=8_000),
    "ae600": dict(ae_steps=600, disc_start=400),
    "ae600_nodisc": dict(ae_steps=600, disc_start=600),
    "kl1e3": dict(kl_weight=1e-3),
    "conv64": dict(denoiser="conv", hidden=64, batch=128, steps=750),
    "ddim50": dict(ddim_steps=50),
    "ddim10": dict(ddim_steps=10),
    "ae600_s2000": dict(ae_steps=600, disc_start=400, steps=2_000),
    "ae600_fp32": dict(ae_steps=600, disc_start=400, precision="fp32"),
    # the autoencoder's arithmetic (bf16 autocast where native, or float32), over training seeds: --set seed=1
    "ae600_w2": dict(ae_steps=600, disc_start=400, ws="2"),
    "ae600_aefp32_w2": dict(ae_steps=600, disc_start=400, ws="2", ae_precision="fp32"),
    "ae600_h128_s8000": dict(ae_steps=600, disc_start=400, hidden=128, steps=8_000),
    "ae600_b512_s2000": dict(ae_steps=600, disc_start=400, batch=512, steps=2_000),
    # diffusion on the pixels instead (no autoencoder), for as many steps as fit in ``budget_s`` seconds: the
    # latent model's two stages took 175 s in the row of ae600 measured with them. Clamp at 1: pixels in [-1, 1].
    "pixel_mlp": dict(space="pixel", hidden=1024, budget_s=175.0, clip=1.0, ws="2"),
    "pixel_unet": dict(space="pixel", denoiser="conv", widths="32,64", batch=128, budget_s=175.0, clip=1.0, ws="2"),
}


def run_ldm(x_train: torch.Tensor, y_train: torch.Tensor, cfg: dict, folder: Path
            ) -> tuple[dict[str, torch.Tensor], dict]:
    """Chapter 6's two stages with ``cfg``: 2,000 decoded posterior means of training images (``recon``) and 2,000
    DDIM samples (classes 0..9 in turn) per guidance scale w in ``cfg["ws"]``; the seconds of each stage, under the
    VQ-VAE's keys (``tokenizer_seconds``: the autoencoder; ``prior_seconds``: the denoiser) and of each sampling."""
    from genviz_utils.features import perceptual_network
    from genviz_utils.models.diffusion import (
        Denoiser,
        MLPDenoiser,
        Schedule,
        ddim_sample,
        encode_all,
        train_denoiser,
        train_klae,
    )
    from genviz_utils.profiles import get_profile

    if cfg["space"] == "pixel":
        return run_pixel_diffusion(x_train, y_train, cfg, folder)
    net = perceptual_network("cpu", get_profile("book"))
    seed_everything(cfg["seed"])
    ae = train_klae(x_train, folder / "klae.pt", net, steps=cfg["ae_steps"], disc_start=cfg["disc_start"],
                    kl_weight=cfg["kl_weight"], lr=cfg["ae_lr"], latent_channels=cfg["latent"],
                    precision=cfg["ae_precision"], progress=False)
    z = encode_all(ae, x_train)
    scale = 1 / float(z.std())
    sched = Schedule(1000, cfg["schedule"])
    seed_everything(cfg["seed"])
    model = (MLPDenoiser(cfg["latent"], 7, cfg["hidden"], cfg["depth"]) if cfg["denoiser"] == "mlp"
             else Denoiser(cfg["latent"], 7, (cfg["hidden"],), 2))
    t0 = time.perf_counter()
    ema = train_denoiser(model, z * scale, y_train, sched, folder / "denoiser.pt", steps=cfg["steps"], lr=cfg["lr"],
                         batch_size=cfg["batch"], ema_decay=cfg["ema"], p_uncond=cfg["p_uncond"],
                         precision=cfg["precision"], progress=False)
    seconds = {"tokenizer_seconds": round(load_checkpoint(folder / "klae.pt")["history"]["seconds"], 1),
               "prior_seconds": round(time.perf_counter() - t0, 1)}
    with torch.no_grad():
        out = {"recon": ae.decode(z[-N_EVAL:]).float()}
        labels = torch.arange(N_EVAL) % 10
        for w in cfg["ws"].split(","):
            t1 = time.perf_counter()
            lat = ddim_sample(ema, (N_EVAL, cfg["latent"], 7, 7), sched, cfg["ddim_steps"], y=labels, w=float(w),
                              generator=torch.Generator().manual_seed(1), clip=cfg["clip"] or None)
            out[f"w{w}"] = ae.decode(lat / scale).float()
            seconds[f"sample_seconds_w{w}"] = round(time.perf_counter() - t1, 2)
    return out, seconds


def run_pixel_diffusion(x_train: torch.Tensor, y_train: torch.Tensor, cfg: dict, folder: Path
                        ) -> tuple[dict[str, torch.Tensor], dict]:
    """Diffusion on the 784 pixels (scaled to [-1, 1]) with chapter 6's training and sampler, no autoencoder: an
    MLP denoiser (``hidden`` wide) or a U-Net (``widths``, e.g. "32,64"), trained for ``steps`` steps or, with
    ``budget_s`` > 0, for as many as a timed probe of 30 steps says fit in that many seconds. Samples as
    :func:`run_ldm`'s, at each guidance scale."""
    from genviz_utils.models.diffusion import Denoiser, MLPDenoiser, Schedule, ddim_sample, eps_loss, train_denoiser

    def build() -> torch.nn.Module:
        seed_everything(cfg["seed"])
        if cfg["denoiser"] == "mlp":
            return MLPDenoiser(1, 28, cfg["hidden"], cfg["depth"])
        return Denoiser(1, 28, tuple(int(w) for w in cfg["widths"].split(",")), 2)

    x, sched, steps = x_train * 2 - 1, Schedule(1000, cfg["schedule"]), cfg["steps"]
    if cfg["budget_s"] > 0:                                  # time the step on a throwaway copy, as train runs it
        probe = build()
        opt = torch.optim.AdamW(probe.parameters(), cfg["lr"], fused=True)
        amp = autocast(torch.device("cpu"), cfg["precision"])
        for i in range(35):
            if i == 5:
                t0 = time.perf_counter()
            idx = torch.randint(0, len(x), (cfg["batch"],))
            with amp:
                loss = eps_loss(probe, x[idx], y_train[idx], sched, p_uncond=cfg["p_uncond"], null=10)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        steps = max(1, int(cfg["budget_s"] / ((time.perf_counter() - t0) / 30)))
    t0 = time.perf_counter()
    ema = train_denoiser(build(), x, y_train, sched, folder / "denoiser.pt", steps=steps, lr=cfg["lr"],
                         batch_size=cfg["batch"], ema_decay=cfg["ema"], p_uncond=cfg["p_uncond"],
                         precision=cfg["precision"], progress=False)
    seconds = {"tokenizer_seconds": 0.0, "prior_seconds": round(time.perf_counter() - t0, 1), "steps": steps,
               "params": sum(p.numel() for p in ema.parameters())}
    out, labels = {}, torch.arange(N_EVAL) % 10
    with torch.no_grad():
        for w in cfg["ws"].split(","):
            t1 = time.perf_counter()
            img = ddim_sample(ema, (N_EVAL, 1, 28, 28), sched, cfg["ddim_steps"], y=labels, w=float(w),
                              generator=torch.Generator().manual_seed(1), clip=cfg["clip"] or None)
            out[f"w{w}"] = ((img + 1) / 2).clamp(0, 1).float()
            seconds[f"sample_seconds_w{w}"] = round(time.perf_counter() - t1, 2)
    return out, seconds


def cpu_name() -> str:
    """The processor's model name (Linux), so that a row says on what it was measured."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("family", choices=("gan", "vae", "vqvae", "ldm", "gan-truncation"))
    parser.add_argument("variants", nargs="+", help="variant names; for gan-truncation the noise scales T")
    parser.add_argument("--set", nargs="*", default=[], help="key=value overrides of every variant")
    parser.add_argument("--checkpoint", type=Path, help="gan-truncation: the generator's checkpoint (gan.pt)")
    args = parser.parse_args()
    phi = feature_extractor("cpu")
    real = load_images("fashion-mnist", "test").images[:N_EVAL]
    if args.family == "gan-truncation":
        marker = args.checkpoint.with_name("gan_recipe.txt")   # chapter 4's stamp: the recipe that trained it
        row = {"family": "gan", "variant": "truncation", "checkpoint": str(args.checkpoint),
               "recipe": marker.read_text() if marker.exists() else None,
               "threads": torch.get_num_threads(), "cpu": cpu_name()}
        for key, samples in truncated_samples(args.checkpoint, args.variants).items():
            print(json.dumps(row | {"sampler": f"G {key}"} | score(samples, phi, real)), flush=True)
        return
    train_set = load_images("fashion-mnist", "train")
    base, table = {"gan": (GAN_BASE, GAN_VARIANTS), "vae": (VAE_BASE, VAE_VARIANTS),
                   "vqvae": (VQVAE_BASE, VQVAE_VARIANTS), "ldm": (LDM_BASE, LDM_VARIANTS)}[args.family]
    extra = {k: type(base[k])(v) for k, v in (kv.split("=") for kv in args.set)}
    for name in args.variants:
        cfg = copy.deepcopy(base) | table[name] | extra
        t0 = time.perf_counter()
        row = {"family": args.family, "variant": name, "cfg": cfg, "threads": torch.get_num_threads(),
               "cpu": cpu_name()}
        if args.family in ("gan", "vqvae", "ldm"):
            if args.family == "gan":
                sets, seconds = run_gan(train_set.images, cfg)
            elif args.family == "ldm":
                with tempfile.TemporaryDirectory() as folder:
                    sets, seconds = run_ldm(train_set.images, train_set.labels, cfg, Path(folder))
            else:
                with tempfile.TemporaryDirectory() as folder:
                    sets, seconds = run_vqvae(train_set.images, cfg, Path(folder))
            if isinstance(seconds, dict):   # the two stages of the VQ-VAE or the latent diffusion model
                stages = seconds["tokenizer_seconds"] + seconds["prior_seconds"]
                seconds = seconds | {"train_seconds": round(stages, 1)}
            else:
                seconds = {"train_seconds": round(seconds, 1)}
            for key, samples in sets.items():
                print(json.dumps(row | {"sampler": key} | seconds | score(samples, phi, real)), flush=True)
            continue
        else:
            x_bin = torch.bernoulli(train_set.images, generator=torch.Generator().manual_seed(0))
            model, samples, seconds = run_vae(x_bin, cfg)
            test_bin = torch.bernoulli(load_images("fashion-mnist", "test").images,
                                       generator=torch.Generator().manual_seed(1))[:500]   # chapter 2's
            seed_everything(2)
            row["neg_iwae512"] = round(-float(iwae_bound(model, test_bin, 512).mean()), 2)
        row |= {"train_seconds": round(seconds, 1)} | score(samples, phi, real)
        row["total_seconds"] = round(time.perf_counter() - t0, 1)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
