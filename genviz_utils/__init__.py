"""Shared plumbing for the course *Visual Generation Methods I*.

Modules, one concern each:

- ``profiles``    -- ``GENVIZ_PROFILE=smoke|book|full``: every budget comes from here.
- ``runtime``     -- device choice, seeding, cache/checkpoint/result folders, ``eval_mode``, ``apply_batched``.
- ``data``        -- Fashion-MNIST / MNIST held as one tensor, batched by slicing a permutation.
- ``checkpoint``  -- atomic save, checked load.
- ``training``    -- the one training loop every chapter uses (progress bar, NaN guard, exact resume, model configs).
- ``claims``      -- the chapters' numeric checks: value, bar, and a wrong alternative that must fail.
- ``diagrams``    -- the model diagram (boxes and arrows) each chapter opens with.
- ``viz``         -- image grids, reconstructions, loss curves, latent maps.
- ``widgets``     -- ipywidgets explorers that always leave a static figure behind.
- ``vq_widgets``  -- figures and explorers of token maps (codebook, code patches, token editor).
- ``live/``       -- explorers that run in the reader's browser (export to ``engine.js``, page templates).
- ``features``    -- the Fashion-MNIST classifier whose features the metrics use (and chapter 5's perceptual net).
- ``metrics``     -- FD, precision and recall, likelihood and reconstruction metrics of chapter 7.
- ``model_zoo``   -- chapters 1-6's models for chapter 7, or short stand-ins when a chapter has not run.
- ``teaser``      -- the sample grids that the landing page shows.
- ``results``     -- measured numbers written for the book's status page.
- ``report``      -- the status page's tables, made from the results (``python -m genviz_utils.report``).
- ``bench``       -- training throughput against a tutorial input pipeline (``make bench``).
- ``models/``     -- reference models later chapters import, one file per chapter; ``registry.load_model`` rebuilds any.
- ``exercises/``  -- checkers that tell the reader what is wrong, one file per chapter.
- ``editions``    -- the words inside figures and explorers in the Chinese edition (``words_zh_CN.json``).
"""

import os

__version__ = "0.1.0"

if os.environ.get("GENVIZ_FOR_WEBSITE"):
    # executed for the website: every figure also carries its image with Chinese words (the Chinese edition's)
    from .editions import register_for_website

    register_for_website()
