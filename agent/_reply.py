"""One way to read a model's JSON reply into a pydantic model, and one way to tell the
model that shape: the JSON Schema derived from the same model.

Used by the rerank and the follow-up prompts alike (:meth:`polyrank.agent._rerank.LLMRanker.ask`):
the schema sent with the request, the validation of the reply and the error quoted in a
re-ask all come from one pydantic class, so they cannot drift apart.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from polyrank.agent._llm import Reply
from polyrank.agent.errors import OutputError

__all__ = ["output_schema", "parse_reply", "strip_fences"]

M = TypeVar("M", bound=BaseModel)


@functools.cache
def _schema(model: type[BaseModel]) -> str:
    raw = model.model_json_schema(mode="serialization")
    definitions = raw.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items() if k not in ("title", "default")}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return json.dumps(inline(raw))


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of ``model`` as a server's grammar wants it: references inlined,
    every field required (the model's ``json_schema_serialization_defaults_required``),
    no titles or defaults. A fresh copy each call (callers bound it per request)."""
    schema: dict[str, Any] = json.loads(_schema(model))
    return schema


def strip_fences(text: str) -> str:
    """The reply without a Markdown code fence around it."""
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text.strip()


def parse_reply(
    reply: Reply, model: type[M], salvage: Callable[[str], M | None] | None = None
) -> tuple[M, bool]:
    """The reply as ``model``, and whether it was salvaged from a broken reply.

    ``salvage`` may recover the complete part of a reply that is not valid JSON (servers
    do not always say ``finish_reason="length"`` when they cut one off).

    Raises:
        OutputError: saying what is wrong, in words the re-ask quotes to the model.
    """
    try:
        data = json.loads(strip_fences(reply.content))
    except RecursionError:
        raise OutputError("the answer is nested too deeply; answer with the flat schema") from None
    except json.JSONDecodeError as exc:
        kept = salvage(reply.content) if salvage is not None else None
        if kept is not None:
            return kept, True
        if reply.finish_reason == "length":
            raise OutputError(
                "the answer was cut off (too long); answer shorter, one sentence each"
            ) from exc
        raise OutputError(f"the answer is not valid JSON: {exc.msg} at char {exc.pos}") from exc
    try:
        return model.model_validate(data), False
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise OutputError(f"the JSON does not match the schema: {where}: {first['msg']}") from exc
