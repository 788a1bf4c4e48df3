"""Shared plumbing for the course *Visual Generation Methods I*.

Modules, one concern each:

- ``profiles``   -- ``GENVIZ_PROFILE=smoke|book|full``: every budget comes from here.
- ``runtime``    -- device choice, seeding, cache/checkpoint/result folders.
- ``data``       -- Fashion-MNIST / MNIST held as one tensor, batched by slicing a permutation.
- ``checkpoint`` -- atomic save, checked load.
- ``training``   -- the one training loop every chapter uses (progress bar, NaN guard, exact resume).
- ``viz``        -- image grids, reconstructions, loss curves, latent maps.
- ``widgets``    -- ipywidgets explorers that always leave a static figure behind.
- ``results``    -- measured numbers written for the book's status page.
- ``models``     -- reference models that later chapters import.
- ``exercises``  -- checkers that tell the reader what is wrong.
- ``claims``     -- the chapters' numeric checks: value, bar, and a wrong alternative that must fail.
"""

__version__ = "0.1.0"
