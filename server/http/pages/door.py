"""(being written)"""

from aiohttp import web

ROUTES: list[web.RouteDef] = []
