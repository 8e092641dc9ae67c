"""The web app in a real browser: headless Chromium (Debian's package) driven by Selenium.

Upload a photo, draw the digit boxes with the mouse (and move, resize and delete one),
erase, compare before and after (toggle, slider, mask overlay), download the PNG and check
it. The test takes a screenshot of the page; with ``SVHN_ERASE_SCREENSHOT=PATH`` it is
also written to PATH (the README's ``docs/web_app.png``).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
    pytest.skip(f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}); "
                "apt-get install chromium chromium-driver", allow_module_level=True)
pytest.importorskip("selenium", reason="selenium is not installed (the dev extra)")
pytest.importorskip("fastapi", reason="the web extra is not installed")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service as DriverService  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.actions.action_builder import ActionBuilder  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from svhn_erase.apps.web import WebSettings, create_app  # noqa: E402
from svhn_erase.boxes import union_mask  # noqa: E402
from svhn_erase.data.synth import render_sample  # noqa: E402
from web_server import live_server  # noqa: E402

WAIT = 60  # seconds for anything the server computes (a loaded CI machine)


@pytest.fixture
def browser(tmp_path: Path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1100", "--force-device-scale-factor=1",
                f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for(driver, condition, what: str):
    return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(condition, message=what)


def _caption(driver) -> str:
    return driver.find_element(By.ID, "caption").text


def _drag(driver, canvas, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A mouse drag on the canvas between two points given in image pixels (moved to in
    viewport pixels, so that no rounding of the element's centre creeps in)."""
    left, top, width = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width];",
        canvas)
    k = width / driver.execute_script("return state.photo.w")

    def at(p: tuple[float, float]) -> tuple[int, int]:
        return round(left + p[0] * k), round(top + p[1] * k)

    (x0, y0), (x1, y1) = at(start), at(end)
    actions = ActionBuilder(driver)
    mouse = actions.pointer_action
    mouse.move_to_location(x0, y0).pointer_down()
    mouse.move_to_location((x0 + x1) // 2, (y0 + y1) // 2).move_to_location(x1, y1)
    mouse.pointer_up()
    actions.perform()


def _pixel(driver, x: float, y: float) -> list[int]:
    """The canvas's RGBA at image pixel (x, y) as shown now."""
    return driver.execute_script(
        "const c = document.getElementById('canvas'); const s = state.scale;"
        "return Array.from(c.getContext('2d').getImageData(Math.round(arguments[0] * s),"
        " Math.round(arguments[1] * s), 1, 1).data);", x, y)


def _boxes(driver) -> list[list[int]]:
    return driver.execute_script("return state.boxes.map(b => b.map(Math.round))")


def _open_photo(driver, url: str, photo: Path) -> None:
    """Load the page, wait for its method list, open ``photo`` and wait until it is shown
    (its caption names it with its size)."""
    driver.get(url)
    _wait_for(driver, lambda d: len(Select(d.find_element(By.ID, "method")).options) > 3,
              "the method list")
    driver.find_element(By.ID, "file").send_keys(str(photo))
    _wait_for(driver, lambda d: f"{photo.name}: 186x53" in _caption(d),
              "the photo on the canvas")


def test_upload_draw_erase_compare_download(browser, tmp_path: Path) -> None:
    sample = render_sample(17, 3, style="heldout")  # two digits, 186 x 53 pixels
    photo = tmp_path / "house.png"
    Image.fromarray(sample.image).save(photo)
    truth = sample.boxes[:, 1:5].round().astype(int)
    wanted = [[int(x) - 1, int(y) - 1, int(w) + 2, int(h) + 2] for x, y, w, h in truth]
    app = create_app(WebSettings(workdir=tmp_path / "work", examples=2))
    with live_server(app) as url:
        d = browser
        _open_photo(d, url, photo)
        _wait_for(d, lambda d: not d.execute_script("return state.detecting"),
                  "the detector's boxes")
        d.execute_script("state.boxes = []; draw();")  # whatever the detector found
        canvas = d.find_element(By.ID, "canvas")

        # draw the first box off target, move it into place, resize it by its corner
        (x, y, w, h), second = wanted[0], wanted[1]
        _drag(d, canvas, (x + 10, y + 3), (x + 10 + w - 4, y + 3 + h - 6))
        assert _boxes(d) == [[x + 10, y + 3, w - 4, h - 6]]
        _drag(d, canvas, (x + 12, y + 8), (x + 2, y + 5))  # move by (-10, -3)
        assert _boxes(d) == [[x, y, w - 4, h - 6]]
        _drag(d, canvas, (x + w - 4, y + h - 6), (x + w, y + h))  # resize: bottom-right
        assert _boxes(d) == [[x, y, w, h]]
        # a stray box, deleted with the Delete key; then the second digit's box
        _drag(d, canvas, (150, 5), (170, 20))
        assert len(_boxes(d)) == 2
        ActionChains(d).send_keys(Keys.DELETE).perform()
        assert _boxes(d) == [[x, y, w, h]]
        # from its bottom-right corner: its top-left one lies inside the first box
        _drag(d, canvas, (second[0] + second[2], second[1] + second[3]), tuple(second[:2]))
        assert _boxes(d) == wanted

        Select(d.find_element(By.ID, "method")).select_by_value("default")
        d.find_element(By.ID, "erase").click()
        _wait_for(d, lambda d: "erased with default" in _caption(d), "the erased photo")

        # compare: the toggle shows the whole photo before, the slider wipes between them
        cx, cy = x + w / 2, y + h / 2
        d.find_element(By.ID, "toggle").click()
        before = _pixel(d, cx, cy)
        d.find_element(By.ID, "toggle").click()
        after = _pixel(d, cx, cy)
        slider = d.find_element(By.ID, "slider")
        slider.send_keys(Keys.END)  # the split at the right edge: all before
        assert _pixel(d, cx, cy) == before
        slider.send_keys(Keys.HOME)  # all after
        assert _pixel(d, cx, cy) == after
        d.find_element(By.ID, "overlay").click()
        assert d.execute_script("return document.getElementById('overlay').checked")
        # the split between the two digits: the first as it was, the second erased
        split = round(100 * (second[0] + 1) / sample.image.shape[1])
        d.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent("
                         "new Event('input'));", slider, split)
        shot = tmp_path / "web_app.png"
        d.save_screenshot(str(shot))
        if os.environ.get("SVHN_ERASE_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["SVHN_ERASE_SCREENSHOT"])

        d.find_element(By.ID, "download").click()
        target = d.downloads / "house-erased.png"
        _wait_for(d, lambda _: target.is_file(), "the downloaded PNG")
        time.sleep(0.2)
        erased = np.asarray(Image.open(target).convert("RGB"))
        assert erased.shape == sample.image.shape
        inside = union_mask(np.array(wanted), erased.shape)
        changed = np.any(erased != sample.image, axis=-1)
        assert changed[inside].sum() > 20 and not changed[~inside].any()
        assert before != after

        # a batch: the photo and its boxes.json in, a zip out, progress on the way
        (tmp_path / "boxes.json").write_text(json.dumps({"house.png": wanted}))
        d.find_element(By.ID, "batch-files").send_keys(f"{photo}\n{tmp_path / 'boxes.json'}")
        d.find_element(By.ID, "batch-start").click()
        link = d.find_element(By.ID, "batch-download")
        _wait_for(d, lambda _: link.is_displayed(), "the batch's zip")
        assert "done: 1 of 1 erased" in d.find_element(By.ID, "batch-text").text
        result = zipfile.ZipFile(io.BytesIO(httpx.get(link.get_attribute("href")).content))
        assert sorted(result.namelist()) == ["house.png", "masks/house.png", "report.json"]

        # a file that is no image: the page says why
        junk = tmp_path / "notes.png"
        junk.write_bytes(b"no image here")
        d.find_element(By.ID, "file").send_keys(str(junk))
        _wait_for(d, lambda d: "not an image" in d.find_element(By.ID, "message").text,
                  "the reason on the page")


def test_a_photo_the_browser_cannot_show_is_shown_as_the_server_reads_it(
        browser, tmp_path: Path) -> None:
    """A phone's HEIC photo, which Chromium does not decode, opens on the canvas."""
    pytest.importorskip("pillow_heif", reason="the heif extra is not installed")
    sample = render_sample(17, 3, style="heldout")  # 186 x 53 pixels
    photo = tmp_path / "phone.heic"
    Image.fromarray(sample.image).save(photo, quality=100)
    app = create_app(WebSettings(workdir=tmp_path / "work", examples=1))
    with live_server(app) as url:
        _open_photo(browser, url, photo)  # Chromium shows the server's PNG of it
        shown = np.array(_pixel(browser, 93, 26)[:3])
        assert np.abs(shown - sample.image[26, 93]).max() <= 12  # HEIC's rounding only
