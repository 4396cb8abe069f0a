"""The contracts between the services and with their users, as pydantic models.

These modules import only the standard library and pydantic, so a client of the public API (the
``vidsage-client`` package) or an event subscriber can use them without the service runtime:

- :mod:`vidsage.contracts.names`: every wire name (subjects, stream, consumers, queue groups, KV
  buckets, object and cache keys), spelled nowhere else;
- :mod:`vidsage.contracts.permissions`: what each NATS user (every service, the provisioner, an
  event subscriber) may publish and subscribe, derived from what it does;
- :mod:`vidsage.contracts.ids`: time-sortable ids (UUIDv7);
- :mod:`vidsage.contracts.events`: the ``vidsage.video.*`` events and progress messages;
- :mod:`vidsage.contracts.record`: the video record, its statuses and stage transitions;
- :mod:`vidsage.contracts.transcript`: the stored transcript, its SRT/VTT/text renderers and the
  ``mm:ss`` clock every moment is shown with;
- :mod:`vidsage.contracts.chat`: the chat WebSocket frames and the gateway ↔ chat messages;
- :mod:`vidsage.contracts.search`: the search request, hits and reply.
"""
