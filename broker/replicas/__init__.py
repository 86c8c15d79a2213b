"""Broker replicas on PostgreSQL + Redis (issue 18 part 1): which replica holds which agent.

Done: the refusal (``MAMORI_REPLICAS=on`` needs PostgreSQL and Redis, checked in
``broker.config``) and presence keys with a TTL (``presence``). Not done yet: the pub/sub
route that carries a viewer's signaling on one replica to the agent on another.
"""
