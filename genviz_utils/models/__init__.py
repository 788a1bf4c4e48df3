"""Reference models that later chapters (and the scoreboard) import. One file per chapter (``ae``, ``vae``, ``vq``,
``gan``, ``vqgan``, ``diffusion``), and ``registry``: :func:`~genviz_utils.models.registry.load_model` rebuilds any
of them from a checkpoint written by :func:`genviz_utils.training.train`."""
