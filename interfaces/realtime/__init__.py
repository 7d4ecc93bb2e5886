"""Socket.IO: rooms of live order events with gapless resume (see docs/realtime.md).

``server.build_realtime(settings)`` builds the server, its namespace and the broadcaster
the projector publishes to; ``models`` holds the wire types. This package imports
nothing on its own, so the REST layer can use ``models`` without the server.
"""
