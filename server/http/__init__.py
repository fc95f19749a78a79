"""The HTTP edge: pages, JSON API, middlewares. Domain logic lives elsewhere."""
