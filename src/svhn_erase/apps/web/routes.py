"""The JSON API under the page: one handler per endpoint, each a few lines.

Handlers read the form (``_form``), check it (``validation``), run the work in a worker
thread (``Service``, ``Jobs``) and answer. A refused request is a ``RequestError``, which
``app`` turns into HTTP 4xx with ``{"detail": reason}``.

    GET  /api/settings        limits, and whether a digit detector is there
    GET  /api/methods         the removal methods (name, description, uses_classifier)
    GET  /api/examples        generated example photos with their true boxes
    GET  /api/examples/NAME   one example as PNG
    POST /api/erase           image + boxes + method -> PNG (output=png), the digit mask
                              found (output=mask) or both as JSON data URLs (output=json)
    POST /api/detect          image -> the digit boxes the detector finds (503 without one)
    POST /api/preview         image -> the photo as the server reads it, as JPEG (for photos
                              the browser cannot show, such as HEIC; 50x faster than PNG)
    POST /api/batch           files (photos or zips) [+ boxes map] + method -> a batch job
    GET  /api/jobs/ID         a batch's progress;  GET /api/jobs/ID/zip  its result
"""

from __future__ import annotations

import base64
from pathlib import PurePosixPath

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from svhn_erase import __version__
from svhn_erase.apps.web.jobs import Jobs
from svhn_erase.apps.web.service import Service, image_bytes
from svhn_erase.apps.web.validation import (
    RequestError,
    Upload,
    check_method,
    decode_image,
    decode_photo,
    expand_batch,
    parse_box_map,
    parse_boxes,
)

router = APIRouter(prefix="/api")
OUTPUTS = ("png", "mask", "json")


def _service(request: Request) -> Service:
    return request.app.state.service


def _jobs(request: Request) -> Jobs:
    return request.app.state.jobs


async def _form(request: Request, max_files: int = 1) -> FormData:
    """The multipart form, or 400 naming what is wrong with it."""
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise RequestError(400, "send the fields as multipart/form-data (curl -F ...)")
    try:
        return await request.form(max_files=max_files, max_fields=20)
    except Exception as exc:  # starlette's MultiPartException, a malformed body ...
        raise RequestError(400, f"the form does not parse ({getattr(exc, 'detail', exc)})"
                           ) from None


async def _uploads(form: FormData, field: str) -> list[Upload]:
    items = form.getlist(field)
    files = [i for i in items if isinstance(i, UploadFile)]
    if not files:
        raise RequestError(422, f"{field}: missing; attach the photo as a file field "
                           f"(curl -F {field}=@photo.png)")
    return [Upload(PurePosixPath(f.filename or field).name or field, await f.read())
            for f in files]


def _text(form: FormData, field: str, default: str | None = None) -> str | None:
    value = form.get(field, default)
    if isinstance(value, UploadFile):
        raise RequestError(422, f"{field}: expected a text field, not a file")
    return value


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@router.get("/settings")
def settings(request: Request) -> dict:
    service = _service(request)
    return {"version": __version__, "limits": service.settings.public(),
            "detector": service.detector_problem is None,
            "detector_problem": service.detector_problem}


@router.get("/methods")
def methods() -> list[dict]:
    return Service.methods()


@router.get("/examples")
async def examples(request: Request) -> list[dict]:
    found = await run_in_threadpool(_service(request).examples)
    return [{"name": e.name, "url": f"/api/examples/{e.name}", "width": e.image.shape[1],
             "height": e.image.shape[0], "boxes": e.boxes.tolist()} for e in found]


@router.get("/examples/{name}")
async def example_image(request: Request, name: str) -> Response:
    found = {e.name: e for e in await run_in_threadpool(_service(request).examples)}
    if name not in found:
        raise RequestError(404, f"no example {name!r}; choose one of {', '.join(found)}")
    return Response(image_bytes(found[name].image), media_type="image/png")


@router.post("/erase")
async def erase(request: Request) -> Response:
    service = _service(request)
    form = await _form(request)
    output = _text(form, "output", "png")
    if output not in OUTPUTS:
        raise RequestError(422, f"output: {output!r}; choose one of {', '.join(OUTPUTS)}")
    method = check_method(_text(form, "method", "default"))
    upload = (await _uploads(form, "image"))[0]
    image, profile, alpha = await run_in_threadpool(decode_photo, upload, service.settings)
    boxes = parse_boxes(_text(form, "boxes"), image, service.settings, upload.name)
    result, seconds = await run_in_threadpool(service.erase, image, boxes, method)
    mask = result.mask.astype(np.uint8) * 255
    preds = None if result.preds is None else [int(p) for p in result.preds]
    headers = {"X-Erase-Seconds": f"{seconds:.4f}", "X-Erase-Method": method}
    if output == "json":
        return JSONResponse({"width": image.shape[1], "height": image.shape[0],
                             "method": method, "seconds": round(seconds, 4),
                             "boxes": boxes.tolist(), "preds": preds,
                             "mask_pixels": int(result.mask.sum()),
                             "image": _data_url(image_bytes(result.image, profile,
                                                            alpha=alpha)),
                             "mask": _data_url(image_bytes(mask))}, headers=headers)
    stem = PurePosixPath(upload.name).stem or "image"
    png = (image_bytes(result.image, profile, alpha=alpha) if output == "png"
           else image_bytes(mask))
    suffix = "erased" if output == "png" else "mask"
    headers["Content-Disposition"] = f'attachment; filename="{stem}-{suffix}.png"'
    return Response(png, media_type="image/png", headers=headers)


@router.post("/preview")
async def preview(request: Request) -> Response:
    service = _service(request)
    upload = (await _uploads(await _form(request), "image"))[0]
    photo = await run_in_threadpool(decode_photo, upload, service.settings)
    return Response(image_bytes(photo.pixels, photo.profile, fmt="JPEG"),
                    media_type="image/jpeg")


@router.post("/detect")
async def detect(request: Request) -> dict:
    service = _service(request)
    if service.detector_problem:
        raise RequestError(503, service.detector_problem)
    upload = (await _uploads(await _form(request), "image"))[0]
    image = await run_in_threadpool(decode_image, upload, service.settings)
    found = await run_in_threadpool(service.detect, image)
    return {"width": image.shape[1], "height": image.shape[0], "boxes": found}


@router.post("/batch", status_code=202)
async def batch(request: Request) -> dict:
    service = _service(request)
    form = await _form(request, max_files=service.settings.max_batch_files + 1)
    method = check_method(_text(form, "method", "default"))
    uploads = await _uploads(form, "files")
    photos, box_map = await run_in_threadpool(expand_batch, uploads, service.settings)
    box_map.update(parse_box_map(_text(form, "boxes", "") or "", "boxes"))
    return _jobs(request).start(photos, box_map, method).status()


@router.get("/jobs/{job_id}")
def job_status(request: Request, job_id: str) -> dict:
    return _jobs(request).get(job_id).status()


@router.get("/jobs/{job_id}/zip")
def job_zip(request: Request, job_id: str) -> Response:
    job = _jobs(request).get(job_id)
    if job.state != "done" or job.zip_path is None:
        raise RequestError(409, f"batch job {job_id} is {job.state}, not done: "
                           f"{job.done} of {job.total} photos")
    return FileResponse(job.zip_path, media_type="application/zip",
                        filename=f"svhn-erase-{job_id}.zip")

