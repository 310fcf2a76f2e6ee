/* Tessera web app: the trash, devices, account and search pages, read from the API.
 * Everything user-named is put in the page as text (textContent), never as markup. */
"use strict";

(() => {
  const { api, toast, formatBytes, q } = Tessera;
  const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const when = (secs) => (secs ? dateTime.format(new Date(secs * 1000)) : "");

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("aria") || k === "role" || k === "scope") node.setAttribute(k.replace(/^aria([A-Z])/, (_, c) => "aria-" + c.toLowerCase()), v);
      else node[k] = v;
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function unavailable(holder, what) {
    holder.replaceChildren(el("p", { className: "muted" }, `${what} is not available on this server yet.`));
  }

  function table(headers, rows) {
    const head = el("tr", {}, ...headers.map((h) => el("th", { scope: "col", className: h.cls || "" }, h.sr ? el("span", { className: "sr-only" }, h.text) : h.text)));
    return el("table", { className: "files" }, el("thead", {}, head), el("tbody", {}, ...rows));
  }

  /* ---- trash ---- */
  async function loadTrash() {
    const holder = document.getElementById("trash-listing");
    let page;
    try { page = await api("GET", "/v1/trash?" + q({ limit: 500 })); } catch (e) {
      if (e.status === 404 && e.code === "not_found") return unavailable(holder, "The trash");
      holder.replaceChildren(el("p", { className: "error" }, e.message)); return;
    }
    if (!page.entries.length) { holder.replaceChildren(el("p", { className: "empty" }, "The trash is empty.")); return; }
    const rows = page.entries.map((e) => el("tr", { dataset: { path: e.path, trashId: String(e.id) } },
      el("td", {}, e.path),
      el("td", { className: "num" }, e.kind === "file" ? formatBytes(e.size || 0) : (e.files != null ? `${e.files} files` : "")),
      el("td", { className: "when" }, when(e.deleted)),
      el("td", { className: "actions" },
        el("button", { type: "button", className: "small", textContent: "Restore", ariaLabel: "Restore " + e.path, dataset: { trash: "restore" } }),
        el("button", { type: "button", className: "small danger", textContent: "Delete for good", ariaLabel: "Delete for good " + e.path, dataset: { trash: "purge" } })),
    ));
    holder.replaceChildren(table([{ text: "Path" }, { text: "Size", cls: "num" }, { text: "Deleted", cls: "when" }, { text: "Actions", sr: true }], rows));
  }

  async function trashAction(button) {
    const tr = button.closest("tr");
    const body = { path: tr.dataset.path, id: Number(tr.dataset.trashId) };
    button.disabled = true;
    try {
      if (button.dataset.trash === "restore") { await api("POST", "/v1/trash/restore", body); toast(`${body.path} restored`); }
      else {
        if (!confirm(`Delete ${body.path} for good? This cannot be undone.`)) { button.disabled = false; return; }
        await purge(body); toast(`${body.path} deleted for good`);
      }
    } catch (e) { toast(e.message); }
    await loadTrash();
  }

  async function purge(body) {
    for (let i = 0; i < 100; i++) { if ((await api("POST", "/v1/trash/purge", body)).done) return; }
  }

  /* ---- devices ---- */
  async function loadDevices() {
    const holder = document.getElementById("device-listing");
    let answer;
    try { answer = await api("GET", "/v1/devices"); } catch (e) {
      if (e.status === 404 && e.code === "not_found") return unavailable(holder, "The list of devices");
      holder.replaceChildren(el("p", { className: "error" }, e.message)); return;
    }
    const rows = answer.devices.map((d) => el("tr", { dataset: { deviceId: String(d.id) } },
      el("td", {}, d.name, d.current ? el("span", { className: "badge" }, " this browser") : null),
      el("td", { className: "when" }, when(d.created)),
      el("td", { className: "when" }, when(d.last_used)),
      el("td", { className: "actions" }, el("button", { type: "button", className: "small danger", textContent: "Sign out", ariaLabel: "Sign out " + d.name, dataset: { device: String(d.id) } })),
    ));
    holder.replaceChildren(table([{ text: "Device" }, { text: "Signed in", cls: "when" }, { text: "Last used", cls: "when" }, { text: "Actions", sr: true }], rows));
  }

  async function revoke(button) {
    button.disabled = true;
    try {
      const answer = await api("POST", "/v1/devices/revoke", { id: Number(button.dataset.device) });
      if (answer.current) { location.assign("/login"); return; }
      toast("Device signed out");
    } catch (e) { toast(e.message); }
    await loadDevices();
  }

  /* ---- account: what the storage holds ---- */
  async function loadUsage() {
    const dl = document.getElementById("usage-breakdown");
    try {
      const usage = await api("GET", "/v1/usage");
      for (const dd of dl.querySelectorAll("[data-usage]")) dd.textContent = formatBytes(usage[dd.dataset.usage] || 0);
      dl.hidden = false;
    } catch { /* not on this server yet: the total above is all there is */ }
  }

  /* ---- search page ---- */
  async function loadSearch() {
    const holder = document.getElementById("search-page");
    const text = holder.dataset.query;
    if (!text) return;
    let page;
    try { page = await api("GET", "/v1/search?" + q({ q: text, limit: 100 })); } catch (e) {
      if (e.status === 404 && e.code === "not_found") return unavailable(holder, "Search");
      holder.replaceChildren(el("p", { className: "error" }, e.message)); return;
    }
    const matches = page.matches || [];
    if (!matches.length) { holder.replaceChildren(el("p", { className: "empty" }, "No matches.")); return; }
    const href = (p) => "/files" + p.split("/").map(encodeURIComponent).join("/");
    holder.replaceChildren(el("ul", { className: "results" }, ...matches.map((m) =>
      el("li", {}, el("a", { href: href(m.path), textContent: m.path }), m.kind === "file" ? el("span", { className: "muted" }, " · " + formatBytes(m.size || 0)) : null))));
  }

  document.addEventListener("click", (ev) => {
    const t = ev.target.closest("[data-trash]");
    if (t) { trashAction(t); return; }
    const d = ev.target.closest("[data-device]");
    if (d) { revoke(d); return; }
    const all = ev.target.closest('[data-action="purge-all"]');
    if (all && confirm("Empty the trash? Everything in it is deleted for good.")) {
      purge({ all: true }).then(() => toast("The trash is empty"), (e) => toast(e.message)).then(loadTrash);
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    const page = document.body.dataset.page;
    if (page === "trash") loadTrash();
    if (page === "devices") loadDevices();
    if (page === "account") loadUsage();
    if (page === "search") loadSearch();
  });
})();
