"""Running a coroutine to the end from blocking code: the sync side of the async core.

``Agent.recommend`` is ``run_blocking(<the async core>)``; so are ``recommend_many`` and the
LLM ranker's blocking ``rank``. Without a running loop in this thread, the coroutine runs on
a new loop here; inside one (a notebook, async code, the core itself), on a new loop in a
thread of its own, with the caller's context variables (tracers' parent runs).

Unlike :func:`asyncio.run` no SIGINT handler is installed: Ctrl-C interrupts the work at
once, as in plain blocking code, instead of waiting for the next ``await`` (a blocking
model call inside waited out its whole timeout). The worker thread is a daemon thread, so
an interrupted caller's process can leave without waiting for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_blocking"]

T = TypeVar("T")


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """The result of ``coroutine``, run to the end on an event loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run(coroutine)
    context = contextvars.copy_context()
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(context.run(_run, coroutine))
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    worker = threading.Thread(target=target, name="polyrank-loop", daemon=True)
    worker.start()
    worker.join()
    if error:
        raise error[0]
    return result[0]


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``coroutine`` on a new loop in this thread; what it left running is cancelled, and
    async generators and the default executor are shut down, as :func:`asyncio.run` does."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        try:
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
