// svhn-erase web app: load a photo, edit its digit boxes with the mouse, erase through the
// API, compare before and after, download; batches go to /api/batch with progress.
// Plain JavaScript, no libraries. Boxes are kept in image pixels: [left, top, width, height].
"use strict";

const $ = (id) => document.getElementById(id);
const HANDLE = 8;  // screen pixels around a corner that grab it for resizing
const MIN_BOX = 2;  // image pixels: a smaller drag is a click, not a box

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

async function serverReason(file) {
  // The browser cannot show the file: ask the server what is wrong with it.
  const form = new FormData();
  form.append("image", file, file.name);
  form.append("method", "untouched");
  try { await api("/api/erase", { method: "POST", body: form }); } catch (e) { return e.message; }
  return `${file.name}: the browser cannot show this image format; convert it to PNG or JPEG`;
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
    say(await serverReason(file), "error");
    return false;
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

// ------------------------------------------------------------------ drawing

function fitCanvas() {
  const canvas = $("canvas");
  const room = Math.max(320, $("stage").clientWidth - 4);
  const { w, h } = state.photo;
  state.scale = Math.min(room / w, 620 / h, 12);
  canvas.width = Math.round(w * state.scale);
  canvas.height = Math.round(h * state.scale);
  draw();
}

function draw() {
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!state.photo) return;
  ctx.imageSmoothingEnabled = state.scale < 3;
  const { img } = state.photo;
  const result = state.result;
  if (!result) {
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  } else {
    // before on the left of the split, after on the right (the toggle moves the split to
    // one end)
    const split = Math.round(canvas.width * Number($("slider").value) / 100);
    ctx.drawImage(result.img, 0, 0, canvas.width, canvas.height);
    if (split > 0) {
      ctx.save();
      ctx.beginPath();
      ctx.rect(0, 0, split, canvas.height);
      ctx.clip();
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      ctx.restore();
      if (split < canvas.width) {
        ctx.fillStyle = "#fff";
        ctx.fillRect(split - 1, 0, 2, canvas.height);
      }
    }
    if ($("overlay").checked) {
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(result.overlay, 0, 0, canvas.width, canvas.height);
    }
  }
  drawBoxes(ctx);
  caption();
}

function drawBoxes(ctx) {
  const s = state.scale;
  ctx.lineWidth = 2;
  ctx.setLineDash(state.result ? [5, 4] : []);
  state.boxes.forEach(([x, y, w, h], i) => {
    const selected = i === state.selected;
    ctx.strokeStyle = selected ? "#00c8ff" : "#ffd400";
    ctx.strokeRect(x * s, y * s, w * s, h * s);
    if (selected) {
      ctx.fillStyle = "#00c8ff";
      for (const [cx, cy] of corners([x, y, w, h])) {
        ctx.fillRect(cx * s - 4, cy * s - 4, 8, 8);
      }
    }
  });
  ctx.setLineDash([]);
}

function caption() {
  const r = state.result;
  let text = `${state.photo.name}: ${state.photo.w}x${state.photo.h}, ` +
             `${state.boxes.length} box(es)`;
  if (r) {
    text += `; erased with ${r.method} in ${r.seconds.toFixed(2)} s` +
            (r.preds ? ` (read as ${r.preds.join(" ")})` : "") +
            `; ${r.maskPixels} pixels judged digit`;
  }
  $("caption").textContent = text;
  const list = $("box-list");
  list.innerHTML = "";
  state.boxes.forEach((b, i) => {
    const li = document.createElement("li");
    li.textContent = b.map(Math.round).join(", ");
    li.className = i === state.selected ? "selected" : "";
    li.onclick = () => { state.selected = i; draw(); };
    list.appendChild(li);
  });
  const hasPhoto = Boolean(state.photo);
  $("erase").disabled = !hasPhoto || !state.boxes.length;
  $("delete-box").disabled = state.selected < 0;
  $("clear-boxes").disabled = !state.boxes.length;
  for (const id of ["slider", "toggle", "overlay"]) $(id).disabled = !r;
  $("download").classList.toggle("disabled", !r);
  $("download").setAttribute("aria-disabled", String(!r));
}

// ------------------------------------------------------------------ box editing

function corners([x, y, w, h]) {
  return [[x, y], [x + w, y], [x, y + h], [x + w, y + h]];
}

function toImage(event) {
  const rect = $("canvas").getBoundingClientRect();
  const k = state.photo.w / rect.width;
  return [(event.clientX - rect.left) * k, (event.clientY - rect.top) * k];
}

function clamp(v, lo, hi) { return Math.max(lo, Math.min(hi, v)); }

function rectFrom([ax, ay], [bx, by]) {
  const x0 = clamp(Math.min(ax, bx), 0, state.photo.w);
  const y0 = clamp(Math.min(ay, by), 0, state.photo.h);
  const x1 = clamp(Math.max(ax, bx), 0, state.photo.w);
  const y1 = clamp(Math.max(ay, by), 0, state.photo.h);
  return [x0, y0, x1 - x0, y1 - y0];
}

function hit([px, py]) {
  // a corner of a box (resize, from its opposite corner), else inside a box (move)
  const reach = HANDLE / state.scale;
  for (let i = state.boxes.length - 1; i >= 0; i--) {
    const c = corners(state.boxes[i]);
    for (let k = 0; k < 4; k++) {
      if (Math.abs(px - c[k][0]) <= reach && Math.abs(py - c[k][1]) <= reach) {
        return { mode: "resize", index: i, anchor: c[3 - k] };
      }
    }
  }
  for (let i = state.boxes.length - 1; i >= 0; i--) {
    const [x, y, w, h] = state.boxes[i];
    if (px >= x && px <= x + w && py >= y && py <= y + h) {
      return { mode: "move", index: i, start: [px, py], box: state.boxes[i].slice() };
    }
  }
  return null;
}

function boxesChanged() {
  clearResult();
  draw();
}

function onDown(event) {
  if (!state.photo || event.button !== 0) return;
  const p = toImage(event);
  $("canvas").setPointerCapture(event.pointerId);
  const found = hit(p);
  state.drag = found || { mode: "draw", start: p, index: -1 };
  state.selected = found ? found.index : -1;
  draw();
}

function onMove(event) {
  const drag = state.drag;
  if (!drag) return;
  const p = toImage(event);
  if (drag.mode === "draw") {
    const box = rectFrom(drag.start, p);
    if (drag.index < 0 && box[2] >= MIN_BOX && box[3] >= MIN_BOX) {
      state.boxes.push(box);
      drag.index = state.boxes.length - 1;
      state.selected = drag.index;
    } else if (drag.index >= 0) {
      state.boxes[drag.index] = box;
    }
  } else if (drag.mode === "resize") {
    state.boxes[drag.index] = rectFrom(drag.anchor, p);
  } else {
    const [x, y, w, h] = drag.box;
    state.boxes[drag.index] = [clamp(x + p[0] - drag.start[0], 0, state.photo.w - w),
                               clamp(y + p[1] - drag.start[1], 0, state.photo.h - h), w, h];
  }
  drag.changed = true;
  draw();
}

function onUp() {
  const drag = state.drag;
  state.drag = null;
  if (!drag) return;
  // a box squeezed below the minimum is dropped
  state.boxes = state.boxes.filter((b) => b[2] >= 1 && b[3] >= 1);
  if (state.selected >= state.boxes.length) state.selected = -1;
  if (drag.changed) boxesChanged(); else draw();
}

function deleteSelected() {
  if (state.selected < 0) return;
  state.boxes.splice(state.selected, 1);
  state.selected = -1;
  boxesChanged();
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

// ------------------------------------------------------------------ batch

function uploadBatch(form) {
  // XMLHttpRequest, not fetch: it reports upload progress
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/batch");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) batchProgress(e.loaded / e.total, "uploading");
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status >= 400) reject(new Error(body.detail || `HTTP ${xhr.status}`));
      else resolve(body);
    };
    xhr.onerror = () => reject(new Error("the upload failed (is the server running?)"));
    xhr.send(form);
  });
}

function batchProgress(fraction, text) {
  $("batch-progress").value = fraction;
  $("batch-text").textContent = `${text} ${Math.round(fraction * 100)} %`;
}

async function startBatch(files, boxMap = {}) {
  if (!files.length) { say("choose photos or a zip for the batch", "error"); return; }
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  form.append("boxes", JSON.stringify(boxMap));
  form.append("method", $("method").value);
  $("batch-download").hidden = true;
  $("batch-errors").innerHTML = "";
  try {
    let job = await uploadBatch(form);
    while (job.state === "queued" || job.state === "running") {
      batchProgress(job.total ? job.done / job.total : 0, `erased ${job.done} of ${job.total}:`);
      await new Promise((r) => setTimeout(r, 300));
      job = await (await api(`/api/jobs/${job.id}`)).json();
    }
    batchProgress(1, `${job.state}: ${job.total - job.errors.length} of ${job.total} erased,`);
    for (const reason of job.errors) {
      const li = document.createElement("li");
      li.textContent = reason;
      $("batch-errors").appendChild(li);
    }
    if (job.download) {
      const link = $("batch-download");
      link.href = job.download;
      link.hidden = false;
    }
  } catch (e) {
    batchProgress(0, "");
    say(`batch: ${e.message}`, "error");
  }
}

function batchQueue() {
  saveCurrent();
  const boxMap = {};
  for (const item of state.queue) {
    if (item.boxes.length) boxMap[item.file.name] = item.boxes.map((b) => b.map(Math.round));
  }
  startBatch(state.queue.map((item) => item.file), boxMap);
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
