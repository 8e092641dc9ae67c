"""The web app's JSON API: erasing, refusals with reasons, batches, and load on a live server."""

from __future__ import annotations

import base64
import io
import json
import time
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the web extra is not installed")

with warnings.catch_warnings():  # starlette's notice that httpx2 will replace httpx
    warnings.filterwarnings("ignore", message=".*httpx2")
    from fastapi.testclient import TestClient  # noqa: E402

from builders import rgb_icc_profile  # noqa: E402
from svhn_erase.apps.web import WebSettings, create_app  # noqa: E402
from svhn_erase.boxes import union_mask  # noqa: E402
from svhn_erase.removal.methods import method_names  # noqa: E402
from web_server import photo, png, serve_subprocess  # noqa: E402

LIMITS = dict(max_upload_bytes=300_000, max_pixels=200_000, max_boxes=4, examples=1)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web") / "work"


@pytest.fixture(scope="module")
def client(workdir: Path):
    with TestClient(create_app(WebSettings(workdir=workdir, **LIMITS))) as c:
        yield c


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def _erase(client, image: bytes, boxes, name: str = "wall.png", **fields):
    files = {"image": (name, image, "image/png")}
    return client.post("/api/erase", files=files, data={"boxes": json.dumps(boxes), **fields})


@pytest.mark.parametrize("method", ["default", "telea_box"])
def test_erase_changes_the_boxes_only(client, method: str) -> None:
    image, boxes = photo()
    r = _erase(client, png(image), boxes, method=method)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    out = _decode(r.content)
    assert out.shape == image.shape
    inside = union_mask(np.array(boxes), image.shape)
    changed = np.any(out != image, axis=-1)
    assert not changed[~inside].any()
    for left, top, w, h in boxes:  # every box changed
        assert changed[top:top + h, left:left + w].any()
    # the dark bars are gone: the boxes now look like the wall around them
    assert out[inside].mean() > image[inside].mean() + 30


def test_erase_json_and_mask_outputs(client) -> None:
    image, boxes = photo(seed=1)
    r = _erase(client, png(image), boxes, output="json")
    body = r.json()
    assert r.status_code == 200 and body["method"] == "default"
    assert len(body["preds"]) == len(boxes) and body["mask_pixels"] > 0
    erased = _decode(base64.b64decode(body["image"].split(",", 1)[1]))
    assert erased.shape == image.shape
    r = _erase(client, png(image), boxes, output="mask")
    mask = _decode(r.content)
    assert mask.shape == image.shape[:2] and set(np.unique(mask)) <= {0, 255}
    assert (mask > 0).sum() == body["mask_pixels"]
    assert not (mask > 0)[~union_mask(np.array(boxes), image.shape)].any()



def test_a_photo_stored_sideways_is_erased_upright(client) -> None:
    """Phones store portrait photos sideways with an EXIF orientation; the page shows them
    upright and draws the boxes there, so the erased photo comes back upright."""
    image, boxes = photo(seed=2)
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to show
    buf = io.BytesIO()
    Image.fromarray(image).transpose(Image.Transpose.ROTATE_90).save(
        buf, format="JPEG", exif=exif, quality=95)
    r = _erase(client, buf.getvalue(), boxes, name="phone.jpg", output="mask")
    assert r.status_code == 200, r.text
    mask = _decode(r.content) > 0
    assert mask.shape == image.shape[:2]
    assert mask.any() and not mask[~union_mask(np.array(boxes), image.shape)].any()

def test_an_erased_upload_keeps_its_colour_profile(client) -> None:
    """A phone's photo (Display P3) comes back with its profile: without it a browser would
    show every colour of it shifted. The mask, no photo, gets none."""
    image, boxes = photo(seed=3)
    profile = rgb_icc_profile()
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", icc_profile=profile)
    for output in ("png", "json", "mask"):
        r = _erase(client, buf.getvalue(), boxes, name="phone.jpg", output=output)
        assert r.status_code == 200, r.text
        data = r.content if output != "json" else base64.b64decode(
            r.json()["image"].split(",", 1)[1])
        got = Image.open(io.BytesIO(data)).info.get("icc_profile")
        assert got == (None if output == "mask" else profile), output


def test_an_erased_upload_keeps_its_transparency(transparent_photos, tmp_path: Path) -> None:
    """An RGBA PNG comes back as an RGBA PNG with its alpha unchanged, from the page and in a
    batch's zip; the mask stays grey. (A server of its own: the batch test counts the jobs.)"""
    _, boxes = photo()
    upload = transparent_photos["rgba.png"].read_bytes()
    alpha = _decode(upload)[:, :, 3]
    with TestClient(create_app(WebSettings(workdir=tmp_path / "work", **LIMITS))) as client:
        r = _erase(client, upload, boxes, name="cut-out.png", method="telea_box")
        as_json = _erase(client, upload, boxes, name="cut-out.png", method="telea_box",
                         output="json").json()
        job = client.post("/api/batch", files=[("files", ("cut-out.png", upload, "image/png"))],
                          data={"boxes": json.dumps({"cut-out.png": boxes}),
                                "method": "telea_box"}).json()
        zipped = client.get(_wait(client, job)["download"]).content
    result = zipfile.ZipFile(io.BytesIO(zipped))
    for got in (r.content, base64.b64decode(as_json["image"].split(",", 1)[1]),
                result.read("cut-out.png")):
        assert Image.open(io.BytesIO(got)).mode == "RGBA"
        assert np.array_equal(_decode(got)[:, :, 3], alpha)
    assert Image.open(io.BytesIO(result.read("masks/cut-out.png"))).mode == "L"


def test_preview_gives_the_photo_as_the_server_reads_it(client) -> None:
    """For photos the browser cannot show (HEIC): the photo to look at (JPEG), or the
    reason."""
    image, _ = photo(seed=4)
    r = client.post("/api/preview", files={"image": ("wall.png", png(image), "image/png")})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert np.abs(_decode(r.content).astype(int) - image).mean() < 3
    r = client.post("/api/preview", files={"image": ("notes.png", b"no image", "image/png")})
    assert r.status_code == 415 and "notes.png: not an image" in r.json()["detail"]
    pytest.importorskip("pillow_heif", reason="the heif extra is not installed")
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="HEIF", quality=100)
    r = client.post("/api/preview", files={"image": ("phone.heic", buf.getvalue(), "image/heic")})
    assert r.status_code == 200, r.text
    assert np.abs(_decode(r.content).astype(int) - image).mean() < 3


def test_methods_and_examples(client) -> None:
    methods = client.get("/api/methods").json()
    assert [m["name"] for m in methods] == method_names(with_truth=False)
    assert all(m["description"] for m in methods)
    examples = client.get("/api/examples").json()
    assert len(examples) == 1 and examples[0]["boxes"]
    first = client.get(examples[0]["url"]).content
    assert _decode(first).shape[:2] == (examples[0]["height"], examples[0]["width"])
    with TestClient(create_app(WebSettings(**LIMITS))) as other:  # deterministic
        assert other.get(examples[0]["url"]).content == first
    r = _erase(client, first, examples[0]["boxes"], method="telea_box")
    assert r.status_code == 200


def _big_flat_png(side: int) -> bytes:
    return png(np.full((side, side, 3), 128, np.uint8))


def _float_tiff() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(buf, format="TIFF")
    return buf.getvalue()


BAD = [  # (what, files, fields, status, words in the reason)
    ("not an image", {"image": ("notes.txt", b"hello there", "text/plain")},
     {"boxes": "[[1, 1, 5, 5]]"}, 415, ["notes.txt", "not an image"]),
    ("corrupt", {"image": ("cut.png", png(photo()[0])[:300], "image/png")},
     {"boxes": "[[1, 1, 5, 5]]"}, 422, ["cut.png", "does not decode"]),
    ("float pixels", {"image": ("float.tiff", _float_tiff(), "image/tiff")},
     {"boxes": "[[1, 1, 5, 5]]"}, 415, ["float.tiff", "floating-point"]),
    ("empty file", {"image": ("empty.png", b"", "image/png")},
     {"boxes": "[[1, 1, 5, 5]]"}, 422, ["empty.png", "empty"]),
    ("too many pixels", {"image": ("huge.png", _big_flat_png(500), "image/png")},
     {"boxes": "[[1, 1, 5, 5]]"}, 413, ["huge.png", "500x500", "megapixels"]),
    ("too many bytes", {"image": ("noise.png", png(np.random.default_rng(0).integers(
        0, 255, (340, 340, 3), dtype=np.uint8)), "image/png")},
     {"boxes": "[[1, 1, 5, 5]]"}, 413, ["noise.png", "MB"]),
    ("box outside", {"image": ("wall.png", png(photo()[0]), "image/png")},
     {"boxes": "[[500, 10, 20, 20]]"}, 422, ["box 500,10,20,20", "outside", "120x60"]),
    ("too many boxes", {"image": ("wall.png", png(photo()[0]), "image/png")},
     {"boxes": json.dumps([[1, 1, 5, 5]] * 5)}, 422, ["5 boxes", "limit of 4"]),
    ("bad json", {"image": ("wall.png", png(photo()[0]), "image/png")},
     {"boxes": "[[1, 2"}, 422, ["boxes", "JSON"]),
    ("no boxes", {"image": ("wall.png", png(photo()[0]), "image/png")},
     {}, 422, ["boxes", "missing"]),
    ("negative size", {"image": ("wall.png", png(photo()[0]), "image/png")},
     {"boxes": "[[10, 10, -5, 5]]"}, 422, ["positive"]),
    ("not numbers", {"image": ("wall.png", png(photo()[0]), "image/png")},
     {"boxes": '[["a", 1, 2, 3]]'}, 422, ["four numbers"]),
    ("unknown method", {"image": ("wall.png", png(photo()[0]), "image/png")},
     {"boxes": "[[1, 1, 5, 5]]", "method": "magic"}, 422, ["magic", "default"]),
    ("truth method", {"image": ("wall.png", png(photo()[0]), "image/png")},
     {"boxes": "[[1, 1, 5, 5]]", "method": "telea_true"}, 422, ["ground truth"]),
    ("no image", {"other": ("x.png", b"x", "image/png")},
     {"boxes": "[[1, 1, 5, 5]]"}, 422, ["image", "missing"]),
    ("bad output", {"image": ("wall.png", png(photo()[0]), "image/png")},
     {"boxes": "[[1, 1, 5, 5]]", "output": "gif"}, 422, ["output", "png"]),
]


@pytest.mark.parametrize("what, files, fields, status, words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_with_a_reason(client, what, files, fields, status, words) -> None:
    r = client.post("/api/erase", files=files, data=fields)
    assert r.status_code == status, r.content[:300]
    reason = r.json()["detail"]
    for word in words:
        assert word in reason, reason
    assert client.get("/api/methods").status_code == 200  # still serving


def test_request_over_the_body_limit_and_not_multipart(client) -> None:
    r = client.post("/api/erase", content=b"x" * 1_400_000,
                    headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413 and "over the limit" in r.json()["detail"]
    r = client.post("/api/erase", json={"boxes": [[1, 1, 5, 5]]})
    assert r.status_code == 400 and "multipart" in r.json()["detail"]


def test_detect_answers_or_says_why_not(client) -> None:
    image, _ = photo()
    r = client.post("/api/detect", files={"image": ("wall.png", png(image), "image/png")})
    service = client.app.state.service
    if service.detector_problem is None:
        assert r.status_code == 200 and isinstance(r.json()["boxes"], list)
    else:
        assert r.status_code == 503 and "draw the boxes" in r.json()["detail"]
    saved = service.__dict__.get("detector_problem")
    service.__dict__["detector_problem"] = "no digit detector here; draw the boxes instead"
    try:
        r = client.post("/api/detect", files={"image": ("wall.png", png(image), "image/png")})
        assert r.status_code == 503 and "draw the boxes" in r.json()["detail"]
    finally:
        service.__dict__["detector_problem"] = saved


def _wait(client, job: dict) -> dict:
    deadline = time.monotonic() + 60
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['id']}").json()
    return job


def test_batch_of_files_and_a_zip(client, workdir: Path) -> None:
    image, boxes = photo()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("street/b.png", png(image))
        z.writestr("street/broken.png", b"not a png")
        z.writestr("boxes.json", json.dumps({"b.png": boxes, "broken.png": boxes}))
    with_profile = io.BytesIO()
    Image.fromarray(image).save(with_profile, format="PNG", icc_profile=rgb_icc_profile())
    files = [("files", ("a.png", with_profile.getvalue(), "image/png")),
             ("files", ("photos.zip", archive.getvalue(), "application/zip"))]
    r = client.post("/api/batch", files=files,
                    data={"boxes": json.dumps({"a.png": boxes}), "method": "telea_box"})
    assert r.status_code == 202, r.text
    job = _wait(client, r.json())
    assert job["state"] == "done" and job["done"] == job["total"] == 3
    assert len(job["errors"]) == 1 and "broken.png" in job["errors"][0]
    result = zipfile.ZipFile(io.BytesIO(client.get(job["download"]).content))
    assert sorted(result.namelist()) == ["a.png", "b.png", "masks/a.png", "masks/b.png",
                                         "report.json"]
    assert _decode(result.read("b.png")).shape == image.shape
    profiles = {name: Image.open(io.BytesIO(result.read(name))).info.get("icc_profile")
                for name in ("a.png", "b.png")}
    assert profiles == {"a.png": rgb_icc_profile(), "b.png": None}
    assert [p.name for p in (workdir / "jobs").iterdir()] == [f"{job['id']}.zip"]
    r = client.post("/api/batch", files=[("files", ("x.zip", b"PK\x03\x04junk", "a/zip"))])
    assert r.status_code == 422 and "zip" in r.json()["detail"]
    assert client.get("/api/jobs/nope").status_code == 404


def _files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}


def test_two_dozen_concurrent_requests_on_a_live_server(tmp_path: Path) -> None:
    image, boxes = photo()
    good, corrupt = png(image), png(image)[:200]
    with serve_subprocess(tmp_path) as (url, workdir):
        def request(i: int) -> tuple[int, int, str]:
            kind = i % 4
            data = {"boxes": json.dumps(boxes if kind != 2 else [[900, 0, 5, 5]]),
                    "method": "default" if i % 8 == 0 else "telea_box"}
            content = corrupt if kind == 3 else good
            r = httpx.post(url + "/api/erase", files={"image": ("p.png", content)},
                           data=data, timeout=120)
            return kind, r.status_code, r.text if r.status_code != 200 else ""

        with ThreadPoolExecutor(24) as pool:
            answers = list(pool.map(request, range(24)))
        expected = {0: 200, 1: 200, 2: 422, 3: 422}
        assert [(k, s) for k, s, _ in answers] == [(k, expected[k]) for k, _, _ in answers]
        assert all("detail" in t for k, s, t in answers if s != 200)
        assert httpx.get(url + "/api/methods", timeout=30).status_code == 200
    for name in ("home", "tmp", "cwd"):  # nothing written outside the working folder
        assert _files_under(tmp_path / name) == set(), name
    assert {p.parts[0] for p in _files_under(workdir)} <= {"jobs", "matplotlib"}


def test_the_gate_refuses_when_too_many_wait() -> None:
    from threading import Event, Thread

    from svhn_erase.apps.web.service import Gate
    from svhn_erase.apps.web.validation import RequestError

    gate, release = Gate(workers=1, max_waiting=1), Event()

    def hold() -> None:
        with gate.enter():
            release.wait(30)

    def wait_in_line() -> None:
        with gate.enter():
            pass

    holder, queued = Thread(target=hold), Thread(target=wait_in_line)
    holder.start()
    deadline = time.monotonic() + 30
    while gate._slots._value and time.monotonic() < deadline:  # the holder has the slot
        time.sleep(0.01)
    queued.start()
    while gate._waiting < 1 and time.monotonic() < deadline:  # and one waits for it
        time.sleep(0.01)
    with pytest.raises(RequestError) as refused, gate.enter():
        pass
    assert refused.value.status == 429 and "busy" in refused.value.reason
    release.set()
    holder.join(30)
    queued.join(30)
    with gate.enter():  # free again
        pass
