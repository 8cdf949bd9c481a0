"""Simple Message Queue (formerly MNS): queues, topics and messages, with no HTTP.

The package's public surface; outer layers import from here, not from the
modules inside:

- :mod:`fcemu.smq.account`: :class:`Smq`, every queue and topic of one account
  (the engine owns one);
- :mod:`fcemu.smq.queues`: :class:`Queue`, visibility, receipt handles, delays,
  retention and long polls;
- :mod:`fcemu.smq.backlog`: :class:`~fcemu.smq.backlog.Backlog`, a queue's messages,
  handles and the heaps that order them (the base of :class:`Queue`);
- :mod:`fcemu.smq.topics`: :class:`Topic` and :class:`Subscription`, endpoints,
  notification formats and fan-out;
- :mod:`fcemu.smq.messages`: :class:`Message`, shared by queues and topics;
- :mod:`fcemu.smq.properties`: a message's user and system properties and their limits;
- :mod:`fcemu.smq.rules`: names, attribute ranges and defaults, batch sizes.

Imports go one way, ``account`` → ``queues``/``topics`` → ``backlog`` →
``messages``/``rules``, ``messages`` → ``properties``,
so there is no cycle. Every time is read from the injected clock (DESIGN.md
principle 2). Wire details (ranges, defaults, units) are from spec §13.3–§13.5.
"""

from __future__ import annotations

from fcemu.smq.account import Smq
from fcemu.smq.messages import Message, body_md5
from fcemu.smq.queues import Queue
from fcemu.smq.rules import MAX_BATCH, MAX_BATCH_BYTES, check_batch_bytes
from fcemu.smq.topics import TOPIC_RETENTION_SECONDS, Subscription, Topic, endpoint_queue

__all__ = ["MAX_BATCH", "MAX_BATCH_BYTES", "TOPIC_RETENTION_SECONDS", "Message", "Queue", "Smq",
           "Subscription", "Topic", "body_md5", "check_batch_bytes", "endpoint_queue"]
