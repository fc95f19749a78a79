"""Live rooms: the in-memory domain (who is in, who hears whom) and the media plane.

The domain modules (``room``, ``participant``, ``caucus``, ``roles``,
``routing``, ``events``, ``state``) are pure Python without I/O, JSON or
HTTP; the live layer (``server.live``) drives them, persists what they
decide and carries out the side effects, and the wire (``server.signaling``)
translates their events and errors. The media modules (the
aiortc adapter and the forwarder) are not imported here, so importing the
domain never pulls in aiortc.
"""

from server.rooms.caucus import Caucus
from server.rooms.events import ChatMessage, Event, RoutesChanged
from server.rooms.participant import Admission, Participant, invitation_pid, staff_pid
from server.rooms.roles import ROOM_ROLE_LABELS, RoomRole, is_host, role_for_invitation
from server.rooms.room import Room
from server.rooms.routing import MediaKind, Route, receivers_of, routes, sources_for

__all__ = [
    "ROOM_ROLE_LABELS",
    "Admission",
    "Caucus",
    "ChatMessage",
    "Event",
    "MediaKind",
    "Participant",
    "Room",
    "RoomRole",
    "Route",
    "RoutesChanged",
    "invitation_pid",
    "is_host",
    "receivers_of",
    "role_for_invitation",
    "routes",
    "sources_for",
    "staff_pid",
]
