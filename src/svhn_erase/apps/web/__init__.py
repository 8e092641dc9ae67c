"""The local web app (``svhn-erase serve``): a page to erase house numbers, and its API.

``settings`` (the limits), ``validation`` (checking uploads, boxes, methods, batches),
``service`` (erasing, detection, examples), ``jobs`` (batches into a zip), ``routes`` (the
JSON API), ``app`` (``create_app``: the FastAPI application), ``static/`` (the page: plain
HTML, CSS and JavaScript).
"""

from svhn_erase.apps.web.app import create_app
from svhn_erase.apps.web.settings import WebSettings

__all__ = ["WebSettings", "create_app"]
