"""The FastAPI application: the page, the API router, the limits and the error answers.

``create_app(settings)`` builds one server: the static page (``static/``, served from the
package; nothing is fetched from the internet), the API (``routes``), a body-size guard
that answers 413 before a too-big upload is read, and error handlers that turn every refusal
into ``{"detail": reason}`` with its 4xx status (a bug is a 500 with its reason, logged;
the server keeps serving). Uploads stay in memory (bounded by the guard), so the only files
the server writes are the batch zips under its working folder.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette import formparsers
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from svhn_erase.apps.web.jobs import Jobs
from svhn_erase.apps.web.routes import router
from svhn_erase.apps.web.service import Service
from svhn_erase.apps.web.settings import WebSettings
from svhn_erase.apps.web.validation import RequestError
from svhn_erase.errors import SvhnEraseError

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
FORM_SLACK = 1_000_000  # bytes a request may hold beside its photo (boxes, field headers)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``limit_for(path)`` bytes, from its
    Content-Length or, when it is sent in chunks, as soon as it passes the limit."""

    def __init__(self, app: Callable, limit_for: Callable[[str], int]) -> None:
        self.app, self.limit_for = app, limit_for

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await self._refuse(scope, receive, send, int(length), limit)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, receive, send, seen, limit)

    @staticmethod
    async def _refuse(scope: dict, receive: Callable, send: Callable, size: int,
                      limit: int) -> None:
        reason = (f"the request is {size / 1e6:.1f} MB or more, over the limit of "
                  f"{limit / 1e6:.1f} MB for {scope['path']}")
        await JSONResponse({"detail": reason}, status_code=413)(scope, receive, send)


def _limits(settings: WebSettings) -> Callable[[str], int]:
    def limit_for(path: str) -> int:
        if path == "/api/batch":
            return settings.max_batch_bytes
        return settings.max_upload_bytes + FORM_SLACK
    return limit_for


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def refused(_: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse({"detail": exc.reason}, status_code=exc.status)

    @app.exception_handler(SvhnEraseError)
    async def bad_input(_: Request, exc: SvhnEraseError) -> JSONResponse:
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}: {exc}); the "
                             "server goes on serving"}, status_code=500)


def create_app(settings: WebSettings | None = None) -> FastAPI:
    """The web app for ``settings`` (defaults: ``WebSettings()``)."""
    settings = settings or WebSettings()
    made_workdir = settings.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="svhn-erase-web-")) if made_workdir \
        else Path(settings.workdir)
    (workdir / "jobs").mkdir(parents=True, exist_ok=True)
    # keep uploads in memory (BodyLimit bounds them) rather than spooled to the system's
    # temporary folder, which lies outside the working folder
    formparsers.MultiPartParser.spool_max_size = max(
        formparsers.MultiPartParser.spool_max_size, settings.max_batch_bytes + FORM_SLACK)
    service = Service(settings)
    jobs = Jobs(service, workdir / "jobs")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(lambda: service.detector_problem)  # load it before serving
        yield
        jobs.shutdown()
        if made_workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    app = FastAPI(title="svhn-erase", version="1", lifespan=lifespan, docs_url="/api/docs",
                  redoc_url=None, openapi_url="/api/openapi.json")
    app.state.service, app.state.jobs, app.state.workdir = service, jobs, workdir
    app.add_middleware(BodyLimit, limit_for=_limits(settings))
    _error_handlers(app)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return app
