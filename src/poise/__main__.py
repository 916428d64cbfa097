"""``python -m poise``: the same as the ``poise`` command."""

from poise.cli import main

main(prog_name="poise")
