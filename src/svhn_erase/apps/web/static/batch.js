// svhn-erase web app: several photos or a zip to /api/batch, with upload and erase
// progress, and the zip to download.
"use strict";

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
