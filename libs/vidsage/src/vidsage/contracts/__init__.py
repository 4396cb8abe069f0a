"""The contracts between the services and with their users, as pydantic models.

These modules import only the standard library and pydantic, so a client of the public API (the
``vidsage-client`` package) or an event subscriber can use them without the service runtime:

- :mod:`vidsage.contracts.ids`: time-sortable ids (UUIDv7);
- :mod:`vidsage.contracts.events`: the ``vidsage.video.*`` events and progress messages;
- :mod:`vidsage.contracts.record`: the video record, its statuses and stage transitions;
- :mod:`vidsage.contracts.transcript`: the stored transcript and its SRT/VTT/text renderers;
- :mod:`vidsage.contracts.chat`: the chat WebSocket frames and the gateway ↔ chat messages;
- :mod:`vidsage.contracts.search`: the search request, hits and reply.
"""
