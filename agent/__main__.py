from polyrank.agent._cli import run

run()
