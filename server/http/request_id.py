"""Every request gets an id: in its log lines, in the access log, in the ``X-Request-ID`` answer.

An operator handed an id from a complaint ("the page said it was logged")
finds every line of that request, and of the room socket it opened. Behind
nginx the proxy's own id (``proxy_set_header X-Request-ID $request_id``) is
kept, so its access log and ours name the same request; the header is
believed only from a trusted proxy (setting ``trusted_proxies``, the same
rule as the client's address, server/http/trusted_proxies.py) or, behind
``concord serve --workers N``, from the front on a worker's private socket.
Anyone else's header is ignored and a fresh id made: a client must not be
able to make its requests look like someone else's.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from server import cluster
from server.http.middlewares import peer_is_trusted_proxy
from server.keys import CONFIG
from server.logs import context

HEADER = context.REQUEST_ID_HEADER
REQUEST_ID = web.RequestKey("request_id", str)


def from_trusted_hop(request: web.Request) -> bool:
    """Whether the request's socket peer may name the request (see the module's docstring)."""
    if request.config_dict.get(cluster.WORKER) is not None:
        return cluster.via_private_socket(request)
    return CONFIG in request.config_dict and peer_is_trusted_proxy(request)


def request_id_for(request: web.Request) -> str:
    """The incoming id when a trusted hop sent a well-formed one; a new one otherwise."""
    incoming = request.headers.get(HEADER, "").strip()
    if incoming and valid_from(request, incoming):
        return incoming
    return context.new_request_id()


def valid_from(request: web.Request, value: str) -> bool:
    return context.valid_request_id(value) and from_trusted_hop(request)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: names the request before anything can log about it.

    The context variable is not reset afterwards on purpose: the request runs
    in a task of its own (aiohttp), whose context ends with it, and aiohttp
    writes the access log line in that task after the handler has returned.
    """
    request_id = request_id_for(request)
    request[REQUEST_ID] = request_id
    context.set_request(request_id)
    return await handler(request)


async def answer_with_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the header goes out on every answer, WebSocket upgrades too.

    A middleware would be too late for a socket: its headers are sent when
    the handler prepares it, long before the handler returns.
    """
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers[HEADER] = request_id


def setup(app: web.Application) -> None:
    app.on_response_prepare.append(answer_with_request_id)
