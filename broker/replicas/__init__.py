"""Broker replicas on PostgreSQL + Redis (issue 18 part 1).

The refusal (``MAMORI_REPLICAS=on`` needs PostgreSQL and Redis, checked in
``broker.config``); presence keys with a TTL (``presence``: which replica holds which agent);
the Redis channels between replicas (``bus``, messages in ``wire``); the relay of a replica
(``routing``: a viewer on one replica signals with an agent on another, with the agent's
replica checking it again in ``remote_admission``); the other replicas' agents and sessions
(``directory``); clinic CAs announced as they are committed (``ca_news``).
"""
