// Batch list, newest first, paginated; follows batches that are still being read.
"use strict";
(function () {
  const PER_PAGE = 20;
  const body = document.getElementById("batches");
  const message = document.getElementById("message");
  let page = 1;
  let timer = null;

  function row(b) {
    const finished = b.documents.done + b.documents.failed;
    const review = b.fields.needs_review
      ? el("a", { href: `/review?batch=${b.id}`, title: "Review these fields", text: String(b.fields.needs_review) })
      : document.createTextNode("0");
    return el("tr", {},
      el("td", {}, el("a", { href: `/batches/${b.id}`, title: b.id }, el("code", { text: shortId(b.id) }))),
      el("td", { text: when(b.created_at) }),
      el("td", {}, statusBadge(b.status)),
      el("td", { class: "num", text: `${finished} / ${b.documents.total}` }),
      el("td", { class: "num", text: `${b.pages.done} / ${b.pages.total}` }),
      el("td", { class: "num", text: String(b.fields.total) }),
      el("td", { class: "num" }, review),
      el("td", { class: "num" }, el("a", { href: `/api/batches/${b.id}/export.csv`, download: true, text: "CSV" })));
  }

  async function load() {
    clearTimeout(timer);
    try {
      const data = await api(`/api/batches?page=${page}&per_page=${PER_PAGE}`);
      message.textContent = "";
      message.classList.remove("error");
      body.replaceChildren(...(data.batches.length ? data.batches.map(row)
        : [el("tr", {}, el("td", { colspan: "8", class: "placeholder" },
          page === 1 ? "No batches yet. " : "No batches on this page. ",
          el("a", { href: "/", text: "Upload scans" })))]));
      const pages = Math.max(1, Math.ceil(data.total / PER_PAGE));
      document.getElementById("pageno").textContent = `Page ${page} of ${pages}`;
      document.getElementById("prev").disabled = page === 1;
      document.getElementById("next").disabled = !data.next;
      document.querySelector(".pager").hidden = pages === 1 && page === 1;
      if (data.batches.some((b) => ["queued", "processing"].includes(b.status))) timer = setTimeout(load, 2000);
    } catch (error) {
      message.textContent = `${error.message} Retrying…`;
      message.classList.add("error");
      timer = setTimeout(load, 5000);
    }
  }
  document.getElementById("prev").addEventListener("click", () => { page -= 1; load(); });
  document.getElementById("next").addEventListener("click", () => { page += 1; load(); });
  load();
})();
