"""The wire: WebSocket signalling between room pages and the room (protocol concord.v1)."""
