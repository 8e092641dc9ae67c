// svhn-erase web app: the page's state, the API, photos, erasing and the start-up.
// editor.js draws the photo and edits the boxes with the mouse; batch.js sends batches.
// Plain JavaScript, no libraries. Boxes are kept in image pixels: [left, top, width, height].
"use strict";

const $ = (id) => document.getElementById(id);

const state = {
  limits: null, photo: null, boxes: [], selected: -1, result: null, drag: null,
  queue: [], current: -1, scale: 1, detecting: false,
};

// ------------------------------------------------------------------ messages and API

function say(text, kind = "") {
  const el = $("message");
  el.textContent = text;
  el.className = kind;
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let reason = `${response.status} ${response.statusText}`;
    try { reason = (await response.json()).detail || reason; } catch (e) { /* not JSON */ }
    const error = new Error(reason);
    error.status = response.status;
    throw error;
  }
  return response;
}

// ------------------------------------------------------------------ photos

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot show it"));
    img.src = url;
  });
}

async function serverPreview(file) {
  // The browser cannot show the file (HEIC in most browsers): show it as the server reads
  // it; the server's refusal says what is wrong with it.
  const form = new FormData();
  form.append("image", file, file.name);
  const response = await api("/api/preview", { method: "POST", body: form });
  return loadImage(URL.createObjectURL(await response.blob()));
}

async function openPhoto(file, boxes = []) {
  const limits = state.limits;
  if (limits && file.size > limits.max_upload_bytes) {
    say(`${file.name}: ${(file.size / 1e6).toFixed(1)} MB, over the limit of ` +
        `${(limits.max_upload_bytes / 1e6).toFixed(1)} MB per photo`, "error");
    return false;
  }
  let img;
  try {
    img = await loadImage(URL.createObjectURL(file));
  } catch (e) {
    try {
      img = await serverPreview(file);
    } catch (refused) {
      say(refused.message, "error");
      return false;
    }
  }
  if (limits && img.naturalWidth * img.naturalHeight > limits.max_pixels) {
    say(`${file.name}: image is ${img.naturalWidth}x${img.naturalHeight}, over the limit of ` +
        `${limits.max_pixels / 1e6} megapixels`, "error");
    return false;
  }
  state.photo = { file, img, name: file.name, w: img.naturalWidth, h: img.naturalHeight };
  state.boxes = boxes.map((b) => b.slice(0, 4));
  state.selected = -1;
  clearResult();
  fitCanvas();
  say(`${file.name}: ${state.photo.w}x${state.photo.h} pixels`);
  return true;
}

function saveCurrent() {
  if (state.current >= 0) state.queue[state.current].boxes = state.boxes.map((b) => b.slice());
}

async function openQueued(index) {
  saveCurrent();
  const item = state.queue[index];
  const opened = await openPhoto(item.file, item.boxes);
  if (opened) state.current = index;
  document.querySelectorAll("#queue img").forEach((el, i) =>
    el.classList.toggle("current", i === state.current));
  document.querySelectorAll("#examples img").forEach((el) => el.classList.remove("current"));
  return opened;
}

async function onFiles(files) {
  if (!files.length) return;
  state.queue = Array.from(files).map((file) => ({ file, boxes: [] }));
  state.current = -1;
  const box = $("queue");
  box.innerHTML = "";
  state.queue.forEach((item, i) => {
    const thumb = document.createElement("img");
    thumb.src = URL.createObjectURL(item.file);
    thumb.onerror = async () => {  // as the photo itself: the server's reading
      thumb.onerror = null;
      try { thumb.src = (await serverPreview(item.file)).src; } catch (e) { /* said on open */ }
    };
    thumb.title = item.file.name;
    thumb.alt = item.file.name;
    thumb.onclick = () => openQueued(i);
    box.appendChild(thumb);
  });
  $("queue-box").hidden = state.queue.length < 2;
  if (await openQueued(0) && state.limits && state.limits.detector) findDigits();
}

async function loadExamples() {
  const list = await (await api("/api/examples")).json();
  const box = $("examples");
  for (const example of list) {
    const thumb = document.createElement("img");
    thumb.src = example.url;
    thumb.alt = example.name;
    thumb.title = `${example.name} (${example.width}x${example.height})`;
    thumb.onclick = async () => {
      const blob = await (await api(example.url)).blob();
      saveCurrent();
      state.current = -1;
      document.querySelectorAll(".thumbs img").forEach((el) => el.classList.remove("current"));
      thumb.classList.add("current");
      await openPhoto(new File([blob], example.name, { type: "image/png" }), example.boxes);
    };
    box.appendChild(thumb);
  }
}

// ------------------------------------------------------------------ detect, erase, compare

async function findDigits() {
  if (!state.photo) { say("upload a photo first", "error"); return; }
  const form = new FormData();
  form.append("image", state.photo.file, state.photo.name);
  say("finding digits…");
  state.detecting = true;
  try {
    const found = await (await api("/api/detect", { method: "POST", body: form })).json();
    if (!found.boxes.length) {
      say("the detector found no digits: draw the boxes" +
          (state.boxes.length ? " (the ones there are kept)" : ""), "error");
      return;
    }
    state.boxes = found.boxes.map((b) => [b.left, b.top, b.width, b.height]);
    state.selected = -1;
    boxesChanged();
    say(`found ${state.boxes.length} digit(s); adjust the boxes if needed`, "ok");
  } catch (e) {
    say(`${e.message}`, "error");
  } finally {
    state.detecting = false;
  }
}

function maskOverlay(maskImg) {
  const canvas = document.createElement("canvas");
  canvas.width = maskImg.naturalWidth;
  canvas.height = maskImg.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(maskImg, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const px = data.data;
  for (let i = 0; i < px.length; i += 4) {
    const on = px[i] > 127;
    px[i] = 255; px[i + 1] = 0; px[i + 2] = 90; px[i + 3] = on ? 120 : 0;
  }
  ctx.putImageData(data, 0, 0);
  return canvas;
}

function clearResult() {
  if (state.result) URL.revokeObjectURL(state.result.url);
  state.result = null;
  const link = $("download");
  link.href = "#";
  link.removeAttribute("download");
}

async function erase() {
  if (!state.photo || !state.boxes.length) return;
  const form = new FormData();
  form.append("image", state.photo.file, state.photo.name);
  form.append("boxes", JSON.stringify(state.boxes.map((b) => b.map(Math.round))));
  form.append("method", $("method").value);
  form.append("output", "json");
  $("erase").disabled = true;
  say(`erasing with ${$("method").value}…`);
  try {
    const r = await (await api("/api/erase", { method: "POST", body: form })).json();
    const img = await loadImage(r.image);
    const mask = await loadImage(r.mask);
    clearResult();
    const blob = await (await fetch(r.image)).blob();
    const url = URL.createObjectURL(blob);
    state.result = { img, overlay: maskOverlay(mask), url, method: r.method,
                     seconds: r.seconds, preds: r.preds, maskPixels: r.mask_pixels };
    const link = $("download");
    link.href = url;
    link.download = state.photo.name.replace(/\.[^.]*$/, "") + "-erased.png";
    $("slider").value = 50;
    labelToggle();
    say("erased: drag the slider to compare, or toggle before/after", "ok");
  } catch (e) {
    say(e.message, "error");
  }
  draw();
}

function labelToggle() {
  $("toggle").textContent = Number($("slider").value) === 100 ? "Show after" : "Show before";
}

function toggleBefore() {
  // the whole photo before, then the whole photo after
  $("slider").value = Number($("slider").value) === 100 ? 0 : 100;
  labelToggle();
  draw();
}

// ------------------------------------------------------------------ start

async function start() {
  const info = await (await api("/api/settings")).json();
  state.limits = { ...info.limits, detector: info.detector };
  const detect = $("detect");
  detect.disabled = !info.detector;
  detect.title = info.detector ? "find the digit boxes automatically" : info.detector_problem;
  if (!info.detector) detect.textContent = "Find digits (no detector: draw boxes)";
  const methods = await (await api("/api/methods")).json();
  const select = $("method");
  for (const m of methods) {
    const option = new Option(m.name + (m.headline ? "" : " (extra)"), m.name);
    option.title = m.description;
    select.appendChild(option);
  }
  const describe = () => {
    const m = methods.find((x) => x.name === select.value);
    $("method-desc").textContent = m ? m.description : "";
  };
  select.onchange = describe;
  describe();
  loadExamples().catch((e) => say(`examples: ${e.message}`, "error"));
}

$("file").onchange = (e) => {
  const files = Array.from(e.target.files);
  e.target.value = "";  // the next choice starts afresh (and may pick the same file again)
  onFiles(files);
};
$("detect").onclick = findDigits;
$("delete-box").onclick = deleteSelected;
$("clear-boxes").onclick = () => { state.boxes = []; state.selected = -1; boxesChanged(); };
$("erase").onclick = erase;
$("slider").oninput = () => { labelToggle(); draw(); };
$("toggle").onclick = toggleBefore;
$("overlay").onchange = draw;
$("queue-batch").onclick = batchQueue;
$("batch-start").onclick = () => startBatch(Array.from($("batch-files").files));
const canvas = $("canvas");
canvas.addEventListener("pointerdown", onDown);
canvas.addEventListener("pointermove", onMove);
canvas.addEventListener("pointerup", onUp);
canvas.addEventListener("pointercancel", onUp);
document.addEventListener("keydown", (e) => {
  if ((e.key === "Delete" || e.key === "Backspace") && e.target.tagName !== "INPUT") {
    deleteSelected();
  }
});
window.addEventListener("resize", () => { if (state.photo) fitCanvas(); });
start().catch((e) => say(`cannot reach the server: ${e.message}`, "error"));
