// Review: one doubtful field at a time, keyboard only. Enter saves and shows the next field at
// once (the next ones are fetched ahead, their crops loaded and decoded), Escape skips, Ctrl+U
// marks the field unreadable. Saving happens in the background; a failed save puts the field
// back in front of the queue and says why.
"use strict";
(function () {
  const root = document.getElementById("review");
  const batch = root.dataset.batch;
  const $ = (id) => document.getElementById(id);
  const card = $("card");
  const input = $("value");
  const message = $("message");
  const AHEAD = 4;            // fields kept ready behind the one shown
  const saved = new Set();    // ids saved (or being saved) in this session
  const skipped = new Set();  // ids skipped: they come back once nothing else is left
  const inFlight = new Set(); // save requests under way
  let queue = [];             // fields ready to show, crops loading
  let current = null;         // the field shown, null while none is
  let left = null;            // fields still waiting in the scope (server count, kept current here)
  let saves = 0;              // saves started, to know when the server's count can be trusted
  let savedHere = 0;
  let fetching = null;

  function say(text, error = false) {
    message.textContent = text;
    message.classList.toggle("error", error);
  }

  function preload(field) {
    const image = new Image();
    image.id = "crop";
    image.className = "crop";
    image.alt = `${field.field} of ${field.document}, page ${field.page}, as scanned`;
    image.src = field.crop_url;
    image.decode().catch(() => { /* shown anyway; the browser says if it is broken */ });
    field.image = image;
    return field;
  }

  function wanted(field) {
    return !saved.has(field.id) && !skipped.has(field.id) && !(current && current.id === field.id) &&
      !queue.some((f) => f.id === field.id);
  }

  function refill() {
    if (!fetching) fetching = load().finally(() => { fetching = null; });
    return fetching;
  }

  async function load() {
    const quiet = inFlight.size === 0;
    const mark = saves;
    let after = queue.length ? queue[queue.length - 1].id : (current ? current.id : 0);
    for (let round = 0; round < 20; round += 1) {
      const params = new URLSearchParams({ after: String(after), count: String(AHEAD + 1) });
      if (batch) params.set("batch", batch);
      const data = await api(`/api/review/next?${params}`);
      // The server's count is exact when no save of ours was under way meanwhile.
      if (round === 0 && (left === null || (quiet && saves === mark && inFlight.size === 0))) left = data.left;
      const fresh = data.fields.filter(wanted);
      for (const field of fresh) queue.push(preload(field));
      if (fresh.length || !data.fields.length) break;
      const last = data.fields[data.fields.length - 1].id;
      if (last <= after) break;  // wrapped around: every waiting field was seen
      after = last;
    }
    counter();
  }

  function counter() {
    $("left").textContent = left === null ? "…" : `${Math.max(0, left)} left`;
    const parts = [];
    if (savedHere) parts.push(`${plural(savedHere, "field")} saved`);
    if (skipped.size) parts.push(`${skipped.size} skipped`);
    $("tally").textContent = parts.length ? `This session: ${parts.join(", ")}` : "";
  }

  function show(field) {
    current = field;
    if (!field) {
      finish();
      return;
    }
    $("empty").hidden = true;
    card.hidden = false;
    $("where").textContent = `${field.document} · page ${field.page} · ${field.field}`;
    const confidence = $("confidence");
    confidence.textContent = `${percent(field.confidence)} confidence`;
    confidence.className = `pill ${field.confidence < 0.5 ? "low" : field.confidence < 0.9 ? "mid" : "high"}`;
    $("crop").replaceWith(field.image || preload(field).image);
    $("digits").replaceChildren(...field.digits.map((d) =>
      el("li", { class: d.doubtful ? "doubtful" : null, title: `${percent(d.confidence)} sure` },
        el("span", { class: "digit", text: d.value }),
        el("span", { class: "conf", text: percent(d.confidence) }))));
    $("digits").hidden = field.digits.length === 0;
    // Each reader's own reading: where they disagree, the reviewer sees the rivals.
    const readings = Object.entries(field.readings || {});
    $("readings").textContent = readings.length
      ? `Readers: ${readings.map(([name, value]) => `${name} “${value}”`).join(" · ")}` : "";
    $("readings").hidden = readings.length === 0;
    // The template's rule for this field, when no reading keeps it: what to look for.
    $("rule").textContent = field.rule_error ? `Rule not met: ${field.rule_error}` : "";
    $("rule").hidden = !field.rule_error;
    // What the reader noticed about the field (writing struck through): the reason it waits.
    const warnings = (field.warnings || []).map((w) => w.slice(field.field.length + 2));
    $("warnings").textContent = warnings.length ? `Noticed: ${warnings.join("; ")}` : "";
    $("warnings").hidden = warnings.length === 0;
    const note = $("note");
    if (field.status === "reviewed") {
      const what = field.unreadable ? "marked unreadable" : `read as “${field.value}”`;
      note.textContent = `Already ${what}${field.reviewed_by ? ` by ${field.reviewed_by}` : ""}` +
        `${field.reviewed_at ? `, ${when(field.reviewed_at)}` : ""}. Saving again replaces that.`;
    } else if (field.status === "auto") {
      note.textContent = "Accepted automatically: saving records your reading instead.";
    }
    note.hidden = field.status === "needs_review";
    input.value = field.unreadable ? "" : field.value;
    input.classList.remove("invalid");
    input.focus();
    input.select();
    if (queue.length < AHEAD) refill().catch((error) => say(error.message, true));
  }

  function finish() {
    card.hidden = true;
    $("empty").hidden = false;
    const waiting = skipped.size;
    $("empty").classList.toggle("pending", waiting > 0);
    $("empty-title").textContent = waiting ? "Only skipped fields are left" : "Nothing left to review";
    $("empty-text").textContent = waiting
      ? `You skipped ${plural(waiting, "field")}; they still wait for a reading.`
      : batch ? "No field of this batch is waiting for a person."
        : "No field is waiting for a person. Fields of new batches show up here as they are read.";
    $("again").textContent = waiting ? `Go through the ${plural(waiting, "skipped field")}` : "Look again";
    $("again").focus();
  }

  async function next() {
    if (!queue.length) {
      try {
        await refill();
      } catch (error) {
        say(error.message, true);
      }
    }
    show(queue.shift() || null);
  }

  function save(body) {
    const field = current;
    if (!field) return;
    current = null;
    const counted = field.status === "needs_review";
    saved.add(field.id);
    saves += 1;
    if (counted && left !== null) left = Math.max(0, left - 1);
    counter();
    next();
    const request = api(`/api/fields/${field.id}`, {
      method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    }).then(() => {
      savedHere += 1;
      counter();
      say(`Saved ${field.field} of ${field.document}: ${body.unreadable ? "unreadable" : `“${body.value}”`}.`);
    }).catch((error) => {
      saved.delete(field.id);
      if (counted && left !== null) left += 1;
      say(`${field.field} of ${field.document} was not saved: ${error.message}. It is back in front.`, true);
      queue.unshift(field);
      counter();
      if (card.hidden && !current) show(queue.shift());
    }).finally(() => inFlight.delete(request));
    inFlight.add(request);
  }

  function skip() {
    const field = current;
    if (!field) return;
    current = null;
    skipped.add(field.id);
    counter();
    next();
  }

  $("answer").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!current) return;
    const value = input.value.replace(/\s+/g, "");
    if (!/^[0-9]*$/.test(value)) {
      say("Digits only, please (or Ctrl+U if the field cannot be read).", true);
      input.classList.add("invalid");
      input.select();
      return;
    }
    save({ value });
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.repeat) event.preventDefault();  // a held key saves once
  });
  input.addEventListener("input", () => input.classList.remove("invalid"));
  $("skip").addEventListener("click", skip);
  $("unreadable").addEventListener("click", () => save({ unreadable: true }));
  $("again").addEventListener("click", () => {
    skipped.clear();
    counter();
    say("");
    next();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !card.hidden) {
      event.preventDefault();
      skip();
    } else if ((event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey &&
               event.key.toLowerCase() === "u") {
      event.preventDefault();  // and not the browser's "view source"
      if (!card.hidden) save({ unreadable: true });
    }
  });

  async function begin() {
    const wantedId = root.dataset.field;
    if (wantedId) {
      const field = preload(await api(`/api/fields/${encodeURIComponent(wantedId)}`));
      current = field;  // the queue continues after it
      await refill();
      show(field);
    } else {
      await refill();
      show(queue.shift() || null);
    }
  }
  begin().catch((error) => {
    say(error.message, true);
    $("left").textContent = "–";
  });
})();
