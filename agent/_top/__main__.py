"""``python -m polyrank``: the command line."""

from polyrank.agent._cli import run

run()
