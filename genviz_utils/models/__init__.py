"""Reference models that later chapters (and the scoreboard) import. One file per chapter."""
