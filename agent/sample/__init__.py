"""The sample catalogue (466 items in 16 languages) and sample users, shipped inside the
package: what the README's example and ``polyrank demo`` use, from any folder.

Usage::

    from polyrank.agent import Agent
    from polyrank.agent.sample import CATALOG, user

    agent = Agent(store=".polyrank/store")
    agent.ingest(CATALOG)
    rec = agent.recommend("Quiero aprender a programar", user=user("ana"), k=5)
"""

from __future__ import annotations

from polyrank.agent._sample import CATALOG, FOLDER, USERS, user

__all__ = ["CATALOG", "FOLDER", "USERS", "user"]
