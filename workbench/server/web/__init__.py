"""The web view: server-rendered pages (Flask + Jinja2, htmx for partial updates) over the in-process API.

``create_app(workbench)`` builds the WSGI app; ``serve.start_web`` runs it beside the RPC service on gevent's
WSGI server when ``[server] web_port`` is set. Pages call ``workbench.server.workbench.Workbench`` only.
"""

from workbench.server.web.app import create_app

__all__ = ["create_app"]
