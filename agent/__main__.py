from agent._cli import run

run()
