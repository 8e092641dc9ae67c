// svhn-erase web app: drawing the photo (before/after split, mask overlay, boxes) and
// editing the boxes with the mouse: drag to draw, drag a box to move it, drag a corner
// to resize it. Uses the page state of app.js (loaded after this file).
"use strict";

const HANDLE = 8;  // screen pixels around a corner that grab it for resizing
const MIN_BOX = 2;  // image pixels: a smaller drag is a click, not a box

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
