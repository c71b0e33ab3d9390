// Model versions: list, promote / roll back / retire, and improving from corrections.
"use strict";
(function () {
  const body = document.getElementById("versions");
  const message = document.getElementById("message");
  const run = document.getElementById("run");
  const runLog = document.getElementById("run-log");
  const improve = document.getElementById("improve");
  let timer = null;

  function comparison(v) {
    const held = v.metrics && v.metrics.held_out;
    if (!held) return "";
    return `${percent(held.current.exact)} → ${percent(held.candidate.exact)} exact (${held.candidate.fields} fields)`;
  }

  function action(label, path) {
    const button = el("button", { type: "button", class: "secondary small", text: label });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api(path, { method: "POST" });
        message.textContent = `${label}: done. Workers take it up at their next document.`;
        message.classList.remove("error");
      } catch (error) {
        message.textContent = error.message;
        message.classList.add("error");
      }
      load();
    });
    return button;
  }

  function row(v, active) {
    const actions = [];
    if (v.status === "candidate") actions.push(action("Promote", `/api/models/${v.id}/promote`));
    if (v.status === "retired" && v.promoted_at) actions.push(action("Roll back to it", `/api/models/${v.id}/rollback`));
    if (v.id === active) actions.push(action("Retire", `/api/models/${v.id}/retire`));
    return el("tr", {},
      el("td", { title: v.name }, el("code", { text: String(v.id) }), ` ${v.note || ""}`),
      el("td", {}, statusBadge(v.status)),
      el("td", { text: when(v.created_at) }),
      el("td", { text: v.promoted_at ? when(v.promoted_at) : "" }),
      el("td", { text: comparison(v) }),
      el("td", { text: (v.metrics && v.metrics.decision) || "" }),
      el("td", {}, ...actions));
  }

  function showRun(state) {
    const words = {
      none: "Never run.", queued: "Queued: waiting for the training worker.", running: "Running…",
      done: state.promoted ? `Done: version ${state.version} promoted.` : `Done: version ${state.version} not promoted.`,
      failed: `Failed: ${state.error || "see the worker's log"}`,
    };
    run.textContent = words[state.state] || state.state;
    runLog.hidden = !(state.log && state.log.length);
    runLog.textContent = (state.log || []).join("\n");
    improve.disabled = ["queued", "running"].includes(state.state);
    return ["queued", "running"].includes(state.state);
  }

  async function load() {
    clearTimeout(timer);
    try {
      const [data, state] = await Promise.all([api("/api/models"), api("/api/models/improve")]);
      body.replaceChildren(...(data.models.length ? data.models.map((v) => row(v, data.active))
        : [el("tr", {}, el("td", { colspan: "7", class: "placeholder" },
          "No versions yet: the workers read with the shipped files."))]));
      if (showRun(state)) timer = setTimeout(load, 2000);
    } catch (error) {
      message.textContent = `${error.message} Retrying…`;
      message.classList.add("error");
      timer = setTimeout(load, 5000);
    }
  }

  improve.addEventListener("click", async () => {
    improve.disabled = true;
    try {
      showRun(await api("/api/models/improve", { method: "POST" }));
      message.textContent = "";
      message.classList.remove("error");
    } catch (error) {
      message.textContent = error.message;
      message.classList.add("error");
    }
    load();
  });
  load();
})();
