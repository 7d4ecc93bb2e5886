"""The Socket.IO packet class the server encodes its own packets with (acks, emits).

python-socketio's ``Packet`` walks the whole payload in its constructor to find binary
parts (``data_is_binary``: a list built and reduced at every level, for every dict and
list), then encodes it with the standard library's ``json``. For an ack carrying a room's
snapshot (hundreds of orders) that is most of a join's cost: in a burst of 500
``join:orders`` over 300 live orders, profiled, 39 % of the loop went to the walk and
23 % to ``json.dumps``, against 14 % to reading the snapshot.

``JsonPacket`` encodes the payload once with orjson in the constructor, which is also the
binary check: orjson refuses ``bytes``. Whatever orjson refuses (bytes, integer keys, an
integer beyond 64 bits) takes python-socketio's own path unchanged, so binary packets and
their attachments work as before. The text is the same JSON as the stock encoding's,
except that non-ASCII characters stay UTF-8 instead of ``\\u`` escapes (as the
broadcaster's events already do; JSON allows both). Decoding is python-socketio's own.
"""

from __future__ import annotations

from typing import Any

import orjson
from socketio import packet as sio_packet


class JsonPacket(sio_packet.Packet):
    """A ``socketio.packet.Packet`` whose JSON payload is encoded once, by orjson."""

    def __init__(
        self,
        packet_type: int = sio_packet.EVENT,
        data: Any = None,
        namespace: str | None = None,
        id: int | None = None,  # python-socketio's own parameter name
        binary: bool | None = None,
        encoded_packet: Any = None,
    ) -> None:
        self._json: str | None = None
        if data is not None and binary is None and encoded_packet is None:
            try:
                self._json = orjson.dumps(data).decode()
            except TypeError:  # bytes inside, or something only the stdlib encodes
                pass
            else:
                binary = False
        super().__init__(packet_type, data, namespace, id, binary, encoded_packet)

    def encode(self) -> Any:
        if self._json is None or self.packet_type in (
            sio_packet.BINARY_EVENT,
            sio_packet.BINARY_ACK,
        ):
            return super().encode()
        head = str(self.packet_type)
        if self.namespace is not None and self.namespace != "/":
            head += self.namespace + ","
        if self.id is not None:
            head += str(self.id)
        return head + self._json
