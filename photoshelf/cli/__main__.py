"""`python -m photoshelf.cli`: the same command as the `photoshelf` script."""

from __future__ import annotations

from photoshelf.cli import main

main()
