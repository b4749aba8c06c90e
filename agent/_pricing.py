"""Model prices from a file (``POLYRANK_PRICES``), for the cost in every trace.

A JSON or YAML mapping of model name to USD per million tokens, prompt and completion::

    gpt-4o-mini: {prompt: 0.15, completion: 0.60}
    claude-3-5-haiku-latest: [0.80, 4.00]

A model that is neither here nor in :data:`polyrank.agent._agent.DEFAULT_PRICES` has an unknown
cost (``None``, shown as "unknown"), never 0.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from polyrank.agent.errors import ConfigError

__all__ = ["MAX_PRICES_BYTES", "load_prices"]

#: A prices file is a short table; a few hundred models fit in far less.
MAX_PRICES_BYTES = 1_000_000


def _amount(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where}: {value!r} is not a price (USD per million tokens)")
    if value < 0:
        raise ConfigError(f"{where}: a price is at least 0, got {value}")
    return float(value)


def load_prices(path: str | Path) -> dict[str, tuple[float, float]]:
    """``{model: (prompt, completion)}`` in USD per million tokens, from ``path``.

    Raises:
        ConfigError: naming the file, the model and what is wrong.
    """
    from polyrank.retrieval.support import YAMLError, load_yaml

    path = Path(path)
    try:
        if path.stat().st_size > MAX_PRICES_BYTES:
            raise ConfigError(f"{path}: a prices file is at most {MAX_PRICES_BYTES} bytes")
        data = load_yaml(path.read_text(encoding="utf-8"))  # JSON is YAML too
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such prices file (POLYRANK_PRICES)") from None
    except (YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not JSON or YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a mapping of model name to prices is expected")
    prices: dict[str, tuple[float, float]] = {}
    for model, value in data.items():
        where = f"{path}: {model}"
        if isinstance(value, dict):
            unknown = set(value) - {"prompt", "completion"}
            if unknown or set(value) != {"prompt", "completion"}:
                raise ConfigError(f"{where}: write {{prompt: USD, completion: USD}} per million")
            pair = (value["prompt"], value["completion"])
        elif isinstance(value, list | tuple) and len(value) == 2:
            pair = (value[0], value[1])
        else:
            raise ConfigError(f"{where}: write {{prompt: USD, completion: USD}} per million")
        prices[str(model)] = (_amount(pair[0], where), _amount(pair[1], where))
    return prices
