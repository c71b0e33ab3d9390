// Upload page: several files at once, drag and drop, per-file progress, then the batch page.
"use strict";
(function () {
  const form = document.getElementById("upload");
  const input = document.getElementById("files");
  const drop = document.getElementById("drop");
  const list = document.getElementById("chosen");
  const totals = document.getElementById("totals");
  const send = document.getElementById("send");
  const threshold = document.getElementById("threshold");
  const message = document.getElementById("message");
  const layout = document.getElementById("layout");
  const template = document.getElementById("template");
  const limit = Number(form.dataset.maxBytes) || Infinity;
  // A template names fields on pages; an image that is one field has no template.
  layout.addEventListener("change", () => {
    template.disabled = layout.value === "field";
    if (template.disabled) template.value = "";
  });
  let files = [];
  let sending = false;

  function size(bytes) {
    if (bytes < 1048576) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
    return `${(bytes / 1048576).toFixed(1)} MB`;
  }

  function say(text, error = false) {
    message.textContent = text;
    message.classList.toggle("error", error);
  }

  function total() {
    return files.reduce((sum, file) => sum + file.size, 0);
  }

  function show() {
    list.replaceChildren(...files.map((file, i) => {
      const remove = el("button", { type: "button", class: "icon", "aria-label": `Remove ${file.name}`,
                                    title: "Remove", text: "×", disabled: sending });
      remove.addEventListener("click", () => { files.splice(i, 1); show(); });
      return el("li", {},
        el("span", { class: "name", text: file.name, title: file.name }),
        el("span", { class: "size", text: size(file.size) }),
        el("progress", { max: "100", value: "0", id: `progress-${i}`, hidden: !sending }),
        remove);
    }));
    const bytes = total();
    totals.hidden = files.length === 0;
    totals.textContent = `${plural(files.length, "file")}, ${size(bytes)} in all`;
    const tooBig = bytes > limit;
    if (tooBig) say(`That is more than the ${size(limit)} a batch may hold: remove some files or send them in several batches.`, true);
    else if (message.classList.contains("error") && !sending) say("");
    send.disabled = sending || files.length === 0 || tooBig;
    send.textContent = files.length ? `Upload ${plural(files.length, "file")}` : "Upload";
  }

  function add(chosen) {
    const seen = new Set(files.map((f) => `${f.name}|${f.size}|${f.lastModified}`));
    for (const file of Array.from(chosen)) {
      const key = `${file.name}|${file.size}|${file.lastModified}`;
      if (!seen.has(key)) { files.push(file); seen.add(key); }
    }
    show();
  }

  input.addEventListener("change", () => { add(input.files); input.value = ""; });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (event) => add(event.dataTransfer.files));

  function finish(error) {
    sending = false;
    show();
    say(error, true);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (sending || !files.length) return;
    const level = threshold.value.trim();
    if (level !== "" && !(Number(level) >= 0 && Number(level) <= 1)) {
      say("The review threshold is a number from 0 to 1.", true);
      threshold.focus();
      return;
    }
    const data = new FormData();
    for (const file of files) data.append("files", file, file.name);
    data.append("layout", layout.value);
    data.append("template", template.value);
    data.append("review_threshold", level);
    // One request; each file's bar follows the bytes sent, in the order the files go out.
    const ends = [];
    let sum = 0;
    for (const file of files) { sum += file.size; ends.push(sum); }
    const request = new XMLHttpRequest();
    request.open("POST", "/api/batches");
    request.setRequestHeader("X-CSRF-Token", csrf);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (progress) => {
      const sent = progress.loaded * sum / Math.max(progress.total, 1);
      files.forEach((file, i) => {
        const start = ends[i] - file.size;
        const done = file.size ? Math.min(1, Math.max(0, (sent - start) / file.size)) : 1;
        const bar = document.getElementById(`progress-${i}`);
        if (bar) bar.value = Math.round(done * 100);
      });
      say(`Uploading… ${percent(progress.loaded / Math.max(progress.total, 1))}`);
    });
    request.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (e) { /* not JSON */ }
      if (request.status === 202) {
        const rejected = (body.errors || []).length;
        say(rejected ? `Uploaded; ${plural(rejected, "file")} could not be read. Opening the batch…`
          : "Uploaded. Opening the batch…");
        window.location.assign(`/batches/${encodeURIComponent(body.id)}`);
      } else if (request.status === 401) {
        window.location.assign("/login?next=/");
      } else {
        finish(body.error || `The upload failed (${request.status} ${request.statusText}).`);
      }
    });
    request.addEventListener("error", () => {
      finish("The upload did not reach the server. Check the connection and try again.");
    });
    sending = true;
    show();
    say("Uploading…");
    request.send(data);
  });

  // Recent batches, so the page is also the way back to earlier work.
  api("/api/batches?per_page=5").then((data) => {
    if (!data.batches.length) return;
    document.getElementById("recent-batches").replaceChildren(...data.batches.map((b) => el("tr", {},
      el("td", {}, el("a", { href: `/batches/${b.id}` }, el("code", { text: shortId(b.id) }))),
      el("td", { text: when(b.created_at) }),
      el("td", {}, statusBadge(b.status)),
      el("td", { class: "num", text: `${b.documents.done + b.documents.failed} / ${b.documents.total}` }),
      el("td", { class: "num" }, b.fields.needs_review
        ? el("a", { href: `/review?batch=${b.id}`, text: String(b.fields.needs_review) })
        : document.createTextNode("0")))));
    document.getElementById("recent").hidden = false;
  }).catch(() => { /* the list is a convenience; the upload works without it */ });
})();
