"""The live-session service layer: a room's state, its persistence and its side effects.

Between the wire (``server.signaling``) and the domain (``server.rooms``):
the room's state is decided in ``server.rooms`` under the room's lock; what
follows from a decision (database writes in order, revoked links, audit) is
done here, outside the lock. Imports go one way: signaling -> live -> rooms.
"""
