/* Tessera web app: the page's behaviour. Plain JavaScript, no build step.
 *
 * Every action calls the same /v1 API the CLI uses, with the session cookie and the
 * page's CSRF token (X-CSRF-Token). Sizes and times are shown in the user's locale.
 * The page long-polls the change feed and redraws its listing when the tree changes.
 */
"use strict";

const Tessera = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

  class ApiError extends Error {
    constructor(status, error) {
      super((error && error.message) || `request failed (${status})`);
      this.status = status;
      this.code = (error && error.code) || "http_" + status;
    }
  }

  let leaving = false; // the page is going somewhere already (sign-out, a link): no detour to sign-in
  window.addEventListener("beforeunload", () => { leaving = true; });

  function signIn() {
    if (!leaving) location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }

  /* One API call: JSON in and out, the CSRF header, errors as ApiError. */
  async function api(method, endpoint, body) {
    const headers = { "X-CSRF-Token": csrf, "Accept": "application/json" };
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const r = await fetch(endpoint, init);
    const data = await r.json().catch(() => ({}));
    if (r.status === 401) {
      signIn();
      throw new ApiError(401, data.error);
    }
    if (!r.ok) throw new ApiError(r.status, data.error);
    return data;
  }

  const q = (params) => new URLSearchParams(params).toString();
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /* ---- locale formatting ---- */
  const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
  const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

  function formatBytes(n) {
    let i = 0;
    while (n >= 1024 && i < UNITS.length - 1) { n /= 1024; i++; }
    return `${number.format(n)} ${UNITS[i]}`;
  }

  function localize(root) {
    root.querySelectorAll("[data-bytes]").forEach((el) => {
      const n = Number(el.dataset.bytes);
      if (Number.isFinite(n)) el.textContent = formatBytes(n);
    });
    root.querySelectorAll("time[datetime]").forEach((el) => {
      const d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) { el.title = el.textContent; el.textContent = dateTime.format(d); }
    });
  }

  let toastTimer = null;
  function toast(text) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.classList.add("show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => el.classList.remove("show"), 4000);
  }

  /* ---- paths ---- */
  const parentOf = (p) => { const i = p.lastIndexOf("/"); return i <= 0 ? "/" : p.slice(0, i); };
  const join = (folder, name) => (folder === "/" ? "" : folder.replace(/\/+$/, "")) + "/" + name;
  const filesUrl = (p) => "/files" + p.split("/").map(encodeURIComponent).join("/");

  /* ---- redrawing the page from the server ---- */
  async function refresh() {
    const r = await fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } });
    if (r.redirected && new URL(r.url).pathname === "/login") { signIn(); return; }
    if (r.status === 404 && document.body.dataset.path && document.body.dataset.path !== "/") {
      location.assign(filesUrl(parentOf(document.body.dataset.path))); // gone (moved or deleted elsewhere)
      return;
    }
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    for (const id of ["listing", "trash-listing"]) {
      const now = document.getElementById(id), next = doc.getElementById(id);
      if (now && next) { now.replaceWith(document.adoptNode(next)); localize(document.getElementById(id)); }
    }
    const cursor = doc.body.dataset.cursor;
    if (cursor) document.body.dataset.cursor = cursor;
    document.dispatchEvent(new CustomEvent("tessera:refreshed"));
  }

  /* ---- live updates: long-poll the change feed, redraw on a change ---- */
  async function live() {
    let cursor = document.body.dataset.cursor;
    let failures = 0;
    while (cursor) {
      try {
        // /poll: GET /v1/changes/longpoll on this server's own port (proxies send that route
        // to the notify endpoint, which takes no cookies)
        const answer = await api("GET", "/poll?" + q({ cursor, timeout: 30 }));
        failures = 0;
        if (answer.changes) {
          let page;
          do {
            page = await api("GET", "/v1/changes?" + q({ cursor, limit: 2000 }));
            cursor = page.cursor;
          } while (page.has_more);
          await refresh();
        }
        if (answer.backoff) await sleep(answer.backoff * 1000);
      } catch (e) {
        if (e.status === 401) return;
        if (e.code === "cursor_reset") { cursor = (await api("GET", "/v1/changes/latest_cursor").catch(() => ({}))).cursor; await refresh(); continue; }
        failures++;
        await sleep(Math.min(30000, 1000 * 2 ** failures));
      }
    }
  }

  /* ---- dialogs: new folder, rename, move, delete ---- */
  let target = null; // {path, name, kind} of the row the dialog acts on

  function openDialog(id, setup) {
    const dlg = document.getElementById(id);
    if (!dlg) return;
    const err = dlg.querySelector(".error");
    if (err) { err.hidden = true; err.textContent = ""; }
    setup(dlg);
    dlg.showModal();
    const input = dlg.querySelector("input");
    if (input) { input.focus(); input.select(); }
  }

  function targetOf(el) {
    const holder = el.closest("[data-path]");
    return holder ? { path: holder.dataset.path, name: holder.dataset.name, kind: holder.dataset.kind } : null;
  }

  const actions = {
    mkdir() {
      openDialog("dlg-mkdir", (d) => { d.querySelector("input").value = ""; });
    },
    rename(el) {
      target = targetOf(el);
      openDialog("dlg-rename", (d) => { d.querySelector("input").value = target.name; });
    },
    move(el) {
      target = targetOf(el);
      openDialog("dlg-move", (d) => { d.querySelector("input").value = parentOf(target.path); });
    },
    delete(el) {
      target = targetOf(el);
      openDialog("dlg-delete", (d) => { d.querySelector(".target-name").textContent = target.name; });
    },
    async restore(el) {
      const path = document.body.dataset.path;
      el.disabled = true;
      try {
        await api("POST", "/v1/files/restore", { path, rev: Number(el.dataset.rev) });
        toast("Version restored");
        await refresh();
      } catch (e) { toast(e.message); el.disabled = false; }
    },
  };

  const submits = {
    async mkdir(form) {
      const name = form.elements.name.value.trim();
      await api("POST", "/v1/files/mkdir", { path: join(document.body.dataset.path, name) });
      toast(`Folder ${name} created`);
    },
    async rename(form) {
      const to = join(parentOf(target.path), form.elements.name.value.trim());
      const moved = await api("POST", "/v1/files/move", { from: target.path, to });
      afterMove(moved.path, `Renamed to ${moved.name}`);
    },
    async move(form) {
      const dest = form.elements.dest.value.trim() || "/";
      const moved = await api("POST", "/v1/files/move", { from: target.path, to: join(dest.startsWith("/") ? dest : "/" + dest, target.name) });
      afterMove(moved.path, `Moved to ${parentOf(moved.path)}`);
    },
    async delete() {
      await api("POST", "/v1/files/delete", { path: target.path });
      toast(`${target.name} moved to the trash`);
      if (document.body.dataset.page === "file") location.assign(filesUrl(parentOf(target.path)));
    },
  };

  function afterMove(newPath, message) {
    toast(message);
    if (document.body.dataset.page === "file") location.assign(filesUrl(newPath));
  }

  document.addEventListener("click", (ev) => {
    const el = ev.target.closest("[data-action]");
    if (el && actions[el.dataset.action]) { ev.preventDefault(); actions[el.dataset.action](el); return; }
    const close = ev.target.closest("[data-close]");
    if (close) close.closest("dialog").close();
  });

  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    const kind = form.dataset.submit;
    if (!kind || !submits[kind]) return;
    ev.preventDefault();
    const err = form.querySelector(".error");
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await submits[kind](form);
      form.closest("dialog").close();
      await refresh();
    } catch (e) {
      if (err) { err.textContent = e.message; err.hidden = false; }
    } finally {
      button.disabled = false;
    }
  });

  /* ---- search as you type ---- */
  function setupSearch() {
    const input = document.getElementById("search-q");
    const box = document.getElementById("search-results");
    if (!input || !box) return;
    let timer = null, seq = 0;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const text = input.value.trim();
        const mine = ++seq;
        if (!text) { box.hidden = true; box.replaceChildren(); return; }
        let results;
        try {
          results = await api("GET", "/v1/search?" + q({ q: text, limit: 20 }));
        } catch (e) {
          results = { error: e };
        }
        if (mine !== seq) return;
        showResults(box, results);
      }, 200);
    });
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowDown") { const first = box.querySelector("a"); if (first) { ev.preventDefault(); first.focus(); } }
      if (ev.key === "Escape") { box.hidden = true; }
    });
    box.addEventListener("keydown", (ev) => {
      const links = [...box.querySelectorAll("a")], i = links.indexOf(document.activeElement);
      if (ev.key === "ArrowDown" && i < links.length - 1) { ev.preventDefault(); links[i + 1].focus(); }
      if (ev.key === "ArrowUp") { ev.preventDefault(); (i > 0 ? links[i - 1] : input).focus(); }
      if (ev.key === "Escape") { box.hidden = true; input.focus(); }
    });
  }

  function showResults(box, results) {
    box.replaceChildren();
    const entries = results.entries || results.matches || [];
    if (results.error) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = results.error.status === 404 ? "Search is not available on this server yet." : results.error.message;
      box.append(p);
    } else if (!entries.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = "No matches";
      box.append(p);
    }
    for (const e of entries) {
      const a = document.createElement("a");
      a.href = filesUrl(e.path);
      a.setAttribute("role", "option");
      a.textContent = e.path; // text, never markup
      box.append(a);
    }
    box.hidden = false;
  }

  document.addEventListener("DOMContentLoaded", () => {
    localize(document);
    setupSearch();
    if (document.body.dataset.cursor) live();
  });

  return { api, ApiError, refresh, toast, formatBytes, join, sleep, q, csrf, localize };
})();
