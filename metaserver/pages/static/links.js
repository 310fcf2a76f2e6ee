/* Tessera web app: share links. The Link dialog (make a link to a file or folder with an expiry,
 * a password, view only; copy its URL, which is shown only then; the item's links, to revoke)
 * and the /links page (all the user's links). Every call is a /v1/links route.
 * Everything user-named goes in as text (textContent), never as markup. */
"use strict";

(() => {
  const { api, toast, el, filesUrl } = Tessera;
  const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const when = (secs) => dateTime.format(new Date(secs * 1000));
  const samePath = (a, b) => a.toLowerCase() === b.toLowerCase();
  let current = null; // {path, name} of the item the dialog makes links to

  function dialogError(dlg, message) {
    const p = dlg.querySelector(".error");
    p.textContent = message || "";
    p.hidden = !message;
  }

  /* ---- the Link dialog ---- */
  function openLink(target) {
    const dlg = document.getElementById("dlg-link");
    if (!dlg) return;
    current = target;
    dlg.querySelector(".target-name").textContent = target.name;
    const form = dlg.querySelector("form[data-link-form]");
    form.reset();
    form.querySelector(".link-date").hidden = true;
    form.elements.date.disabled = true;
    const tomorrow = new Date(Date.now() + 86400000);
    form.elements.date.min = localDate(tomorrow);
    dlg.querySelector(".link-made").hidden = true;
    dlg.querySelector("#link-url").value = "";
    dialogError(dlg, "");
    dlg.querySelector(".link-list").replaceChildren(el("p", { className: "muted" }, "Loading…"));
    dlg.showModal();
    form.elements.expiry.focus();
    loadItemLinks();
  }

  function localDate(d) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }

  /* The seconds until the link expires (null: never), from the form's choice. */
  function expiresIn(form) {
    const choice = form.elements.expiry.value;
    if (choice === "") return null;
    if (choice !== "date") return Number(choice);
    const day = form.elements.date.value;
    if (!day) throw new Error("Choose the day the link expires.");
    const secs = Math.floor((new Date(day + "T23:59:59") - Date.now()) / 1000); // the end of that day, here
    if (secs < 60) throw new Error("Choose a day after today.");
    return secs;
  }

  async function createLink(form) {
    const dlg = form.closest("dialog");
    const button = form.querySelector('button[type="submit"]');
    dialogError(dlg, "");
    button.disabled = true;
    try {
      const password = form.elements.password.value;
      const made = await api("POST", "/v1/links", {
        path: current.path, expires_in: expiresIn(form), password: password || null, view_only: form.elements.view_only.checked,
      });
      const url = dlg.querySelector("#link-url");
      url.value = made.url;
      dlg.querySelector(".link-made").hidden = false;
      form.elements.password.value = "";
      url.focus();
      url.select();
      toast("Link created: copy it now");
      await loadItemLinks();
    } catch (e) {
      dialogError(dlg, e.status === 403 ? `Not allowed: ${e.message}` : e.message);
    } finally {
      button.disabled = false;
    }
  }

  async function copy(input) {
    try {
      await navigator.clipboard.writeText(input.value);
      toast("Link copied");
    } catch {
      input.focus();
      input.select(); // the fallback: the link selected, for the keyboard's copy
      let copied = false;
      try { copied = document.execCommand("copy"); } catch { /* not allowed here */ }
      toast(copied ? "Link copied" : "Press Ctrl+C (⌘C on a Mac) to copy the selected link");
    }
  }

  function describe(link) {
    const parts = [`made ${when(link.created)}`];
    if (link.state === "revoked") parts.push(`revoked ${when(link.revoked)}`);
    else if (link.expires) parts.push(`${link.state === "expired" ? "expired" : "expires"} ${when(link.expires)}`);
    else parts.push("never expires");
    if (link.password) parts.push("password");
    if (link.view_only) parts.push("view only");
    return parts.join(" · ");
  }

  function revokeButton(link) {
    if (link.state !== "active") return el("span", { className: "badge state", dataset: { state: link.state } }, link.state);
    return el("button", { type: "button", className: "small danger", textContent: "Revoke",
      ariaLabel: `Revoke link ${link.id} to ${link.path}`, dataset: { revoke: String(link.id) } });
  }

  async function loadItemLinks() {
    const dlg = document.getElementById("dlg-link");
    const holder = dlg.querySelector(".link-list");
    let links;
    try { links = (await api("GET", "/v1/links")).links.filter((l) => samePath(l.path, current.path)); } catch (e) {
      holder.replaceChildren(el("p", { className: "error" }, e.message));
      return;
    }
    if (!links.length) { holder.replaceChildren(el("p", { className: "muted" }, "No links to it yet.")); return; }
    holder.replaceChildren(el("ul", { className: "link-items" }, ...links.reverse().map((l) =>
      el("li", { dataset: { linkId: String(l.id), state: l.state } }, el("span", {}, `#${l.id} · ${describe(l)}`), revokeButton(l)))));
  }

  /* ---- the /links page ---- */
  async function loadLinksPage() {
    const holder = document.getElementById("link-listing");
    let links;
    try { links = (await api("GET", "/v1/links")).links; } catch (e) {
      holder.replaceChildren(el("p", { className: "error" }, e.message));
      return;
    }
    if (!links.length) { holder.replaceChildren(el("p", { className: "empty" }, "You have no share links. Make one with a file's or folder's Link button.")); return; }
    const rows = links.reverse().map((l) => el("tr", { dataset: { linkId: String(l.id), state: l.state } },
      el("td", { className: "name" }, el("a", { href: filesUrl(l.path), textContent: l.path })),
      el("td", {}, `#${l.id} · ${describe(l)}`),
      el("td", { className: "actions" }, revokeButton(l))));
    const head = el("tr", {}, el("th", { scope: "col" }, "Opens"), el("th", { scope: "col" }, "Link"),
      el("th", { scope: "col" }, el("span", { className: "sr-only" }, "Actions")));
    holder.replaceChildren(el("table", { className: "files" }, el("thead", {}, head), el("tbody", {}, ...rows)));
  }

  async function revoke(button) {
    button.disabled = true;
    try {
      await api("POST", "/v1/links/revoke", { id: Number(button.dataset.revoke) });
      toast("Link revoked: it no longer opens");
    } catch (e) { toast(e.message); }
    if (document.getElementById("dlg-link")?.open) await loadItemLinks();
    if (document.body.dataset.page === "links") await loadLinksPage();
  }

  document.addEventListener("click", (ev) => {
    const open = ev.target.closest('[data-action="link"]');
    if (open) {
      ev.preventDefault();
      const holder = open.closest("[data-path]");
      const path = holder.dataset.path;
      openLink({ path, name: holder.dataset.name || path.slice(path.lastIndexOf("/") + 1) });
      return;
    }
    if (ev.target.closest('[data-link="copy"]')) { copy(document.getElementById("link-url")); return; }
    const r = ev.target.closest("[data-revoke]");
    if (r) revoke(r);
  });

  document.addEventListener("change", (ev) => {
    if (ev.target.id !== "link-expiry") return;
    const dated = ev.target.value === "date";
    const box = ev.target.form.querySelector(".link-date");
    box.hidden = !dated;
    const input = box.querySelector("input");
    input.disabled = !dated; // a hidden date is neither required nor checked
    input.required = dated;
  });

  document.addEventListener("submit", (ev) => {
    if (!ev.target.matches("form[data-link-form]")) return;
    ev.preventDefault();
    createLink(ev.target);
  });

  document.addEventListener("DOMContentLoaded", () => {
    if (document.body.dataset.page === "links") loadLinksPage();
  });
})();
