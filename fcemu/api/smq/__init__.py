"""The MNS-compatible HTTP API (spec §13) on the FC port, for the unmodified MNS SDK.

Routes are absolute (``/queues…``, ``/topics…``) and are added to the root
app: :data:`routes` is the queue table (:mod:`fcemu.api.smq.queues`) followed by
the topic table (:mod:`fcemu.api.smq.topics`). Each handler is wrapped by
:func:`smq_error_middleware` (:mod:`fcemu.api.smq.middleware`), so MNS
responses are always MNS XML with an ``x-mns-request-id`` header, whatever
middlewares the root app carries; unknown methods and sub-paths under
``/queues`` and ``/topics`` answer ``InvalidRequestURL`` in the same format.
Signatures are not checked unless verify mode is on (decisions.md: off by
default); then :func:`fcemu.api.auth.check_mns_signature` runs before every
handler. Request parameters are read by :mod:`fcemu.api.smq.params`, XML
bodies read and written by :mod:`fcemu.api.smq.xml`.

Whoever runs the app should register :func:`release_long_polls` in
``on_shutdown``: aiohttp waits for in-flight handlers at shutdown, and a
parked ReceiveMessage (``waitseconds`` up to 30) would hold it.
"""

from __future__ import annotations

from aiohttp import web

from fcemu.api.smq import queues, topics
from fcemu.api.smq.middleware import (
    mns,
    release_long_polls,
    smq_error_middleware,
    smq_error_response,
)

__all__ = ["mns", "release_long_polls", "routes", "smq_error_middleware", "smq_error_response"]

#: Every MNS route, queues first: add them to an app with ``app.add_routes(routes)``.
routes: tuple[web.AbstractRouteDef, ...] = (*queues.routes, *topics.routes)
