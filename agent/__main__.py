from polyrank._cli import run

run()
