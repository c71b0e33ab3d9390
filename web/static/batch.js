// A batch, live: status, progress, documents and errors; a page viewer with the field boxes drawn
// over the scan, coloured by status, each a link to the review of its field.
"use strict";
(function () {
  const root = document.getElementById("batch");
  const batchId = root.dataset.batch;
  const $ = (id) => document.getElementById(id);
  const viewer = { document: null, page: 1, pages: 1, request: 0, shown: null };
  const BUSY = ["queued", "processing"];
  let documents = [];
  let timer = null;
  let lastStatus = null;

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(tick, ms);
  }

  async function tick() {
    let busy = true;
    try {
      busy = await refresh();
    } catch (error) {
      $("summary").textContent = `${error.message} Retrying…`;
      $("summary").classList.add("error");
      schedule(3000);
      return;
    }
    if (busy) schedule(1000);
  }

  async function refresh() {
    const [status, docs] = await Promise.all([
      api(`/api/batches/${batchId}`), api(`/api/batches/${batchId}/documents`)]);
    documents = docs.documents;
    const changed = lastStatus !== null && lastStatus !== status.status;
    lastStatus = status.status;
    showStatus(status);
    showDocuments();
    const first = documents.find(openable);
    if (!viewer.document && first) await open(first, 1);
    else if (viewer.document && changed) await open(viewer.document, viewer.page);  // final colours
    return BUSY.includes(status.status);
  }

  function openable(doc) {
    return doc.status === "done" && doc.pages.total > 0;
  }

  function showStatus(status) {
    const badge = $("status");
    badge.textContent = status.status;
    badge.className = `badge ${status.status}`;
    $("created").textContent = [
      status.created_at && `Created ${when(status.created_at)}`,
      status.finished_at && !BUSY.includes(status.status) && `finished ${when(status.finished_at)}`,
    ].filter(Boolean).join(", ");
    const docs = status.documents;
    const finished = docs.done + docs.failed;
    const share = status.pages.total ? status.pages.done / status.pages.total : finished / Math.max(1, docs.total);
    const bar = $("bar");
    bar.style.width = percent(BUSY.includes(status.status) ? share : 1);
    bar.className = status.status;
    $("stat-documents").textContent = `${finished} / ${docs.total}`;
    $("stat-pages").textContent = `${status.pages.done} / ${status.pages.total}`;
    $("stat-fields").textContent = String(status.fields.total);
    $("stat-review").textContent = String(status.fields.needs_review);
    const summary = $("summary");
    summary.classList.remove("error");
    summary.textContent = BUSY.includes(status.status)
      ? `Reading… ${plural(finished, "document")} of ${docs.total} done.`
      : docs.failed ? `${plural(docs.failed, "document")} could not be read: see below.` : "";
    const review = $("review");
    const waiting = status.fields.needs_review;
    const busy = BUSY.includes(status.status);
    review.textContent = waiting ? `Review ${plural(waiting, "field")}` : busy ? "Nothing to review yet" : "Nothing to review";
    review.classList.toggle("secondary", !waiting);
    const errors = $("errors");
    errors.hidden = status.errors.length === 0;
    errors.replaceChildren(...status.errors.map((e) => el("li", { text: e.error })));
  }

  function showDocuments() {
    $("documents").replaceChildren(...documents.map((doc) => {
      let parts;
      if (doc.status === "failed") parts = ["could not be read"];
      else if (!doc.pages.total) parts = [doc.status === "queued" ? "waiting to be read" : "being read"];
      else if (doc.status !== "done") parts = [`page ${doc.pages.done} of ${doc.pages.total} read`];
      else {
        parts = [plural(doc.pages.total, "page"), plural(doc.fields.total, "field")];
        if (doc.fields.needs_review) parts.push(`${doc.fields.needs_review} to review`);
      }
      const current = viewer.document && viewer.document.id === doc.id;
      const body = [
        el("span", { class: "doc-name", text: doc.name, title: doc.name }),
        statusBadge(doc.status),
        el("span", { class: "doc-meta", text: parts.join(" · ") }),
      ];
      if (!openable(doc)) return el("li", { class: "doc" }, el("div", { class: "doc-row" }, ...body));
      const button = el("button", { type: "button", class: "doc-row", "aria-current": current ? "true" : null }, ...body);
      button.addEventListener("click", () => open(doc, 1));
      return el("li", { class: `doc${current ? " current" : ""}` }, button);
    }));
  }

  async function open(doc, number) {
    const ticket = ++viewer.request;
    viewer.document = doc;
    viewer.page = number;
    viewer.pages = doc.pages.total || 1;
    showDocuments();
    let page;
    try {
      page = await api(`/api/documents/${doc.id}/pages/${number}`);
    } catch (error) {
      $("viewer-empty").textContent = error.message;
      return;
    }
    if (ticket !== viewer.request) return;  // another page was asked for meanwhile
    $("viewer-title").textContent = doc.name;
    $("pager").hidden = viewer.pages < 2;
    $("page-no").textContent = `Page ${number} of ${viewer.pages}`;
    $("page-prev").disabled = number <= 1;
    $("page-next").disabled = number >= viewer.pages;
    const image = $("page-image");
    image.alt = `${doc.name}, page ${number}`;
    if (image.getAttribute("src") !== page.image_url) image.src = page.image_url;
    drawBoxes(page);
    $("viewer-empty").hidden = true;
    $("page-view").hidden = false;
    $("fit").hidden = false;
    $("legend").hidden = false;
    if (page.error) {
      $("viewer-empty").textContent = page.error;
      $("viewer-empty").hidden = false;
    }
  }

  function drawBoxes(page) {
    viewer.shown = page;
    const boxes = $("page-boxes");
    boxes.setAttribute("viewBox", `0 0 ${page.width} ${page.height}`);
    boxes.setAttribute("preserveAspectRatio", "none");
    // Labels about 12 screen pixels high, whatever the scale the page is shown at.
    const shownWidth = $("page-image").clientWidth;
    const size = Math.round(12 * page.width / (shownWidth > 50 ? shownWidth : Math.min(page.width, 800)));
    boxes.replaceChildren(...page.fields.map((f) => {
      const state = f.unreadable ? `${f.status} unreadable` : f.status;
      const shown = f.unreadable ? "unreadable" : (f.value || "empty");
      const words = STATUS_WORDS[f.status] || f.status;
      const label = `${f.field}: ${shown}, ${percent(f.confidence)} sure, ${words}`;
      const above = f.box.y > size * 1.3;
      const link = svg("a", { href: `/review?field=${f.id}&batch=${encodeURIComponent(batchId)}`,
                              class: `field ${state}`, "aria-label": label },
        svg("title", { text: `${label}. Click to review.` }),
        svg("rect", { class: `box ${state}`, x: f.box.x, y: f.box.y, width: f.box.width, height: f.box.height, rx: 2 }),
        svg("text", { class: "label", x: f.box.x, y: above ? f.box.y - size * 0.35 : f.box.y + f.box.height + size,
                      "font-size": size, "stroke-width": size / 4, text: shown }));
      return link;
    }));
  }

  $("page-prev").addEventListener("click", () => {
    if (viewer.document && viewer.page > 1) open(viewer.document, viewer.page - 1);
  });
  $("page-next").addEventListener("click", () => {
    if (viewer.document && viewer.page < viewer.pages) open(viewer.document, viewer.page + 1);
  });
  function relabel() {
    if (viewer.shown) drawBoxes(viewer.shown);
  }
  $("page-image").addEventListener("load", relabel);
  let resizing = null;
  window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(relabel, 150); });
  $("fit").addEventListener("click", () => {
    const fit = $("page-view").classList.toggle("fit");
    $("fit").textContent = fit ? "Full width" : "Fit to screen";
    relabel();
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
    if ($("pager").hidden) return;
    if (event.key === "ArrowLeft") $("page-prev").click();
    if (event.key === "ArrowRight") $("page-next").click();
  });
  // Coming back from the review page (browser back): show what changed there.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      tick();
      if (viewer.document) open(viewer.document, viewer.page);
    }
  });
  tick();
})();
