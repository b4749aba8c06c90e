"""``python -m polyrank``: the command line."""

from polyrank._cli import run

run()
