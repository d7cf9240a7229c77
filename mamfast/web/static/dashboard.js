// mamfast dashboard: live rows from server-sent events, actions, copy buttons.
// Every value from the server is set as text (textContent), never as markup.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const flash = document.getElementById("flash");
  const live = document.getElementById("live");
  const article = document.querySelector("[data-release]");
  const table = document.getElementById("releases");
  let source = null;

  function say(message, ok) {
    flash.textContent = message;
    flash.className = "flash " + (ok ? "ok" : "bad");
    flash.hidden = false;
  }

  function fill(root, row) {
    root.querySelectorAll("[data-field]").forEach(function (el) {
      const key = el.dataset.field;
      if (!(key in row)) return;
      let value = row[key];
      if (key === "uploaded_at" && !value) value = "not yet";
      el.textContent = String(value);
      if (key === "title" && el.tagName === "A") el.href = "/release/" + encodeURIComponent(row.asin);
    });
    root.querySelectorAll("[data-show]").forEach(function (el) {
      const key = el.dataset.show;
      if (key === "no-files") el.hidden = !!row.has_files;
      else el.hidden = !row[key];
    });
  }

  function upsertRow(row) {
    const body = table.tBodies[0];
    let tr = body.querySelector('tr[data-asin="' + CSS.escape(row.asin) + '"]');
    if (!row.shown) {
      if (tr) tr.remove();
    } else {
      if (!tr) {
        const template = document.getElementById("row-template");
        tr = template.content.querySelector("tr").cloneNode(true);
        tr.dataset.asin = row.asin;
        body.appendChild(tr);
      }
      tr.className = "status-" + row.status;
      fill(tr, row);
    }
    document.getElementById("empty").hidden = body.rows.length > 0;
  }

  function removeRow(asin) {
    const tr = table.tBodies[0].querySelector('tr[data-asin="' + CSS.escape(asin) + '"]');
    if (tr) tr.remove();
    document.getElementById("empty").hidden = table.tBodies[0].rows.length > 0;
  }

  function list(name, items) {
    const ul = document.querySelector('[data-pool="' + name + '"]');
    if (!ul) return;
    ul.replaceChildren();
    items.forEach(function (item) {
      const li = document.createElement("li");
      li.textContent = item;
      ul.appendChild(li);
    });
  }

  function showPool(pool) {
    list("queues", pool.queues.map(function (q) { return q.name + ": " + q.depth + " waiting"; })
      .concat([pool.in_progress + " job(s) running"]));
    const workers = pool.workers.map(function (w) { return w.text; });
    list("workers", workers.length ? workers : ["no worker is running"]);
    const health = pool.health.map(function (h) { return h.queue + " @ " + h.host + ": " + h.status; });
    list("health", health.length ? health : ["no health record"]);
    list("audnex", [pool.audnex.text].concat(pool.audnex.pause ? [pool.audnex.pause] : []));
  }

  async function loadFiles() {
    for (const id of ["fastfill", "description"]) {
      const pre = document.getElementById(id);
      if (!pre || pre.textContent) continue;
      const answer = await fetch(pre.dataset.src, { headers: { Accept: "text/plain" } });
      if (answer.ok) pre.textContent = await answer.text();
    }
  }

  function connect(query) {
    if (source) source.close();
    source = new EventSource("/events" + query);
    source.onopen = function () { live.textContent = "live"; live.className = "live on"; };
    source.onerror = function () { live.textContent = "reconnecting…"; live.className = "live off"; };
    source.addEventListener("release", function (e) {
      const row = JSON.parse(e.data);
      if (article) {
        fill(article, row);
        if (row.has_files) loadFiles();
      } else {
        upsertRow(row);
      }
    });
    source.addEventListener("gone", function (e) { if (table) removeRow(JSON.parse(e.data).asin); });
    source.addEventListener("counts", function (e) {
      const counts = JSON.parse(e.data);
      Object.keys(counts).forEach(function (view) {
        const el = document.querySelector('[data-count="' + view + '"]');
        if (el) el.textContent = counts[view];
      });
    });
    source.addEventListener("pool", function (e) { showPool(JSON.parse(e.data)); });
    source.addEventListener("problem", function (e) {
      const message = JSON.parse(e.data).message;
      if (message) say(message, false);
    });
  }

  async function act(button) {
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    const action = button.dataset.action;
    const holder = button.closest("[data-asin]");
    const asin = holder ? holder.dataset.asin : "";
    const body = new URLSearchParams();
    let url = "/release/" + encodeURIComponent(asin) + "/" + action;
    if (action === "rescan") url = "/rescan";
    if (action === "uploaded" || action === "not-uploaded") {
      url = "/release/" + encodeURIComponent(asin) + "/uploaded";
      body.set("uploaded", action === "uploaded" ? "1" : "0");
    }
    if (action === "reset") body.set("stage", document.getElementById("reset-stage").value);
    button.disabled = true;
    try {
      const answer = await fetch(url, {
        method: "POST",
        headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
        body: body,
        credentials: "same-origin",
      });
      const result = await answer.json().catch(function () { return { ok: false, message: answer.statusText }; });
      if (answer.status === 401) say(result.message + " (sign in at /login)", false);
      else say(result.message, result.ok);
    } catch (err) {
      say("the dashboard did not answer: " + err, false);
    } finally {
      button.disabled = false;
    }
  }

  async function copy(button) {
    const pre = document.getElementById(button.dataset.copy);
    const text = pre.textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) {
      const range = document.createRange();
      range.selectNodeContents(pre);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      document.execCommand("copy");
    }
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = "Copy"; }, 1500);
  }

  document.addEventListener("click", function (e) {
    const button = e.target.closest("button[data-action]");
    if (button) { e.preventDefault(); act(button); return; }
    const copier = e.target.closest("button[data-copy]");
    if (copier) { e.preventDefault(); copy(copier); }
  });

  const filters = document.getElementById("filters");
  if (filters) {
    // Filtering restarts the stream with the new query: the server says which rows match.
    const refilter = function () {
      const query = "?" + new URLSearchParams(new FormData(filters)).toString();
      history.replaceState(null, "", query);
      table.tBodies[0].replaceChildren();
      connect(query);
    };
    filters.addEventListener("submit", function (e) { e.preventDefault(); refilter(); });
    filters.addEventListener("change", refilter);
    filters.querySelector('input[type="search"]').addEventListener("input", refilter);
    connect(location.search);
  } else if (article) {
    connect("?asin=" + encodeURIComponent(article.dataset.release));
  }
})();
