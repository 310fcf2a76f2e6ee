/* Tessera web app: shared folders. The Share dialog (make a folder a shared folder; its people,
 * their roles and pending invitations; invite, change a role, remove; stop sharing, leave) and
 * the /shares page (invitations to accept or decline, the user's shared folders).
 * Every call is a /v1/shares route; the server checks the caller's role whatever the page shows.
 * Everything user-named goes in as text (textContent), never as markup. */
"use strict";

(() => {
  const { api, toast, el, refresh, filesUrl, parentOf } = Tessera;
  const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const ROLE_OPTION = { editor: "Editor: can change", viewer: "Viewer: can open" };
  const ROLE_PHRASE = { owner: "the owner", editor: "an editor: you can change it", viewer: "a viewer: you can open it, not change it" };
  const aRole = (role) => (role === "editor" ? "an editor" : "a viewer");
  const me = () => (document.querySelector(".signout .who")?.textContent || "").trim();
  const samePath = (a, b) => a.toLowerCase() === b.toLowerCase(); // the server's path keys are case-blind
  let current = null; // {path, name} of the folder the dialog is about

  function showError(holder, e) {
    const p = holder.querySelector(".error");
    p.textContent = e.status === 403 ? `Not allowed: ${e.message}` : e.message;
    p.hidden = false;
  }

  function clearError(holder) {
    const p = holder.querySelector(".error");
    p.hidden = true;
    p.textContent = "";
  }

  /* ---- the Share dialog ---- */
  function openShare(path) {
    const dlg = document.getElementById("dlg-share");
    if (!dlg) return;
    current = { path, name: path.slice(path.lastIndexOf("/") + 1) };
    dlg.querySelector(".target-name").textContent = current.name;
    dlg.querySelector(".share-status").textContent = "Loading…";
    for (const part of dlg.querySelectorAll(".share-start, .share-people, .share-invite, [data-share=unshare], [data-share=leave]")) part.hidden = true;
    clearError(dlg);
    dlg.showModal();
    loadShare().then(() => focusFirst(dlg));
  }

  async function loadShare() {
    const dlg = document.getElementById("dlg-share");
    let list;
    try { list = await api("GET", "/v1/shares"); } catch (e) { showError(dlg, e); return; }
    drawShare(dlg, list.shares.find((s) => samePath(s.path, current.path)));
  }

  /* The keyboard starts where the dialog's work is: sharing the folder, or inviting someone. */
  function focusFirst(dlg) {
    const start = dlg.querySelector(".share-start:not([hidden]) button, .share-invite:not([hidden]) input");
    if (start && dlg.open) start.focus();
  }

  function drawShare(dlg, share) {
    const owner = share && share.role === "owner";
    const status = dlg.querySelector(".share-status");
    status.textContent = !share ? "Only you can see this folder."
      : owner ? "You share this folder." : `Shared with you by ${share.owner}. You are ${ROLE_PHRASE[share.role]}.`;
    dlg.querySelector(".share-start").hidden = Boolean(share);
    dlg.querySelector(".share-people").hidden = !share;
    dlg.querySelector(".share-invite").hidden = !owner;
    dlg.querySelector("[data-share=unshare]").hidden = !owner;
    dlg.querySelector("[data-share=leave]").hidden = !share || owner;
    if (share) dlg.querySelector(".people").replaceChildren(peopleTable(share, owner));
  }

  function roleControl(user, role) {
    const select = el("select", { ariaLabel: `Role of ${user}`, dataset: { user } },
      ...["editor", "viewer"].map((r) => el("option", { value: r, textContent: ROLE_OPTION[r] })));
    select.value = role;
    select.addEventListener("change", () => change("role", { user, role: select.value }, `${user} is now ${aRole(select.value)}`));
    return select;
  }

  function peopleTable(share, owner) {
    const rows = share.members.map((m) => el("tr", { dataset: { user: m.user } },
      el("td", {}, m.user, m.user === me() ? el("span", { className: "muted" }, " (you)") : null),
      el("td", {}, owner && m.role !== "owner" ? roleControl(m.user, m.role) : el("span", { className: "badge role", dataset: { role: m.role } }, m.role)),
      el("td", { className: "actions" }, owner && m.role !== "owner"
        ? el("button", { type: "button", className: "small danger", textContent: "Remove", ariaLabel: `Remove ${m.user}`, dataset: { share: "remove", user: m.user } })
        : null)));
    for (const inv of share.invitations || []) {
      rows.push(el("tr", { dataset: { invitee: inv.invitee } },
        el("td", {}, inv.invitee),
        el("td", {}, el("span", { className: "muted" }, `invited as ${aRole(inv.role)}`)),
        el("td", { className: "actions" }, el("button", { type: "button", className: "small", textContent: "Cancel invitation",
          ariaLabel: `Cancel the invitation of ${inv.invitee}`, dataset: { share: "remove", user: inv.invitee } }))));
    }
    const head = el("tr", {}, el("th", { scope: "col" }, "Person"), el("th", { scope: "col" }, "Role"), el("th", { scope: "col" }, el("span", { className: "sr-only" }, "Actions")));
    return el("table", { className: "files people-table" }, el("thead", {}, head), el("tbody", {}, ...rows));
  }

  /* A change of the share in the dialog: the call, a word about it, the dialog and page redrawn. */
  async function change(what, body, done) {
    const dlg = document.getElementById("dlg-share");
    clearError(dlg);
    try {
      const answer = await api("POST", what ? `/v1/shares/${what}` : "/v1/shares", { path: current.path, ...body });
      if (done) toast(done);
      await loadShare();
      await afterChange();
      return answer;
    } catch (e) {
      showError(dlg, e);
      if (what === "role") await loadShare(); // the select shows the role the server kept
      return null;
    }
  }

  async function afterChange() {
    if (document.body.dataset.page === "shares") await loadSharesPage();
    else await refresh();
  }

  async function leaveOrUnshare(what) {
    const text = what === "unshare"
      ? `Stop sharing ${current.name}? The other people lose it at once; it stays in your files as an ordinary folder.`
      : `Leave ${current.name}? It goes from your files; the owner can invite you again.`;
    if (!confirm(text)) return;
    const dlg = document.getElementById("dlg-share");
    try { await api("POST", `/v1/shares/${what}`, { path: current.path }); } catch (e) { showError(dlg, e); return; }
    dlg.close();
    toast(what === "unshare" ? `${current.name} is no longer shared` : `You left ${current.name}`);
    const here = document.body.dataset.path || "";
    if (what === "leave" && (samePath(here, current.path) || here.toLowerCase().startsWith(current.path.toLowerCase() + "/"))) {
      location.assign(filesUrl(parentOf(current.path)));
      return;
    }
    await afterChange();
  }

  const buttons = {
    create: () => change("", {}, `${current.name} is now a shared folder`).then(() => focusFirst(document.getElementById("dlg-share"))),
    remove: (b) => change("remove", { user: b.dataset.user }, `${b.dataset.user} was removed`),
    unshare: () => leaveOrUnshare("unshare"),
    leave: () => leaveOrUnshare("leave"),
  };

  async function invite(form) {
    const user = form.elements.user.value.trim();
    const role = form.elements.role.value;
    if (await change("invite", { user, role }, `${user} is invited as ${aRole(role)}`)) form.elements.user.value = "";
  }

  /* ---- the /shares page ---- */
  async function loadSharesPage() {
    const invHolder = document.getElementById("invitation-listing");
    const shareHolder = document.getElementById("share-listing");
    let list;
    try { list = await api("GET", "/v1/shares"); } catch (e) {
      for (const h of [invHolder, shareHolder]) h.replaceChildren(el("p", { className: "error" }, e.message));
      return;
    }
    invHolder.replaceChildren(...(list.invitations.length ? list.invitations.map(invitationForm)
      : [el("p", { className: "empty" }, "No invitations are waiting for you.")]));
    if (!list.shares.length) { shareHolder.replaceChildren(el("p", { className: "empty" }, "You share no folders, and nobody shares one with you.")); return; }
    const rows = list.shares.map((s) => el("tr", { dataset: { path: s.path, name: s.path.slice(s.path.lastIndexOf("/") + 1), kind: "folder" } },
      el("td", { className: "name" }, el("a", { href: filesUrl(s.path), textContent: s.path })),
      el("td", {}, el("span", { className: "badge role", dataset: { role: s.role } }, s.role)),
      el("td", {}, s.owner),
      el("td", { className: "num" }, String(s.members.length) + (s.invitations.length ? ` (+${s.invitations.length} invited)` : "")),
      el("td", { className: "actions" }, el("button", { type: "button", className: "small", textContent: "People", ariaLabel: `People of ${s.path}`, dataset: { action: "share" } }))));
    const head = el("tr", {}, ...["Folder", "Your role", "Owner", "People"].map((h) => el("th", { scope: "col", className: h === "People" ? "num" : "" }, h)),
      el("th", { scope: "col" }, el("span", { className: "sr-only" }, "Actions")));
    shareHolder.replaceChildren(el("table", { className: "files" }, el("thead", {}, head), el("tbody", {}, ...rows)));
  }

  function invitationForm(inv) {
    const id = `accept-at-${inv.id}`;
    return el("form", { className: "card invitation", dataset: { invitation: String(inv.id), share: inv.share } },
      el("p", {}, el("strong", {}, inv.inviter || "Someone"), " invites you to ", el("strong", {}, inv.share), ` as ${aRole(inv.role)}`,
        el("span", { className: "muted" }, ` · ${dateTime.format(new Date(inv.created * 1000))}`)),
      el("div", { className: "row" },
        el("div", { className: "stack grow" },
          el("label", { htmlFor: id }, `Put ${inv.share} in your files at (optional)`),
          el("input", { id, name: "at", maxLength: 4096, autocomplete: "off", placeholder: "/" + inv.share })),
        el("div", { className: "buttons start" },
          el("button", { type: "submit", className: "primary", textContent: "Accept", ariaLabel: `Accept the invitation to ${inv.share}` }),
          el("button", { type: "button", textContent: "Decline", ariaLabel: `Decline the invitation to ${inv.share}`, dataset: { decline: String(inv.id) } }))));
  }

  async function answerInvitation(form, accept) {
    const id = Number(form.dataset.invitation);
    for (const b of form.querySelectorAll("button")) b.disabled = true;
    try {
      if (accept) {
        let at = form.elements.at.value.trim();
        if (at && !at.startsWith("/")) at = "/" + at;
        const answer = await api("POST", "/v1/shares/accept", at ? { id, at } : { id });
        toast(`${form.dataset.share} is in your files at ${answer.path}`);
      } else {
        await api("POST", "/v1/shares/decline", { id });
        toast(`Invitation to ${form.dataset.share} declined`);
      }
    } catch (e) { toast(e.message); }
    await loadSharesPage();
  }

  /* The files' root mentions invitations waiting, with a link to the sharing page. */
  async function noteInvitations() {
    const note = document.getElementById("invitation-note");
    if (!note) return;
    try {
      const n = (await api("GET", "/v1/shares")).invitations.length;
      if (!n) return;
      note.querySelector("a").textContent = n === 1 ? "An invitation to a shared folder is waiting for you" : `${n} invitations to shared folders are waiting for you`;
      note.hidden = false;
    } catch { /* no sharing on this server: nothing to say */ }
  }

  document.addEventListener("click", (ev) => {
    const open = ev.target.closest('[data-action="share"]');
    if (open) {
      ev.preventDefault();
      openShare(open.dataset.sharePath || open.closest("[data-path]").dataset.path);
      return;
    }
    const b = ev.target.closest("#dlg-share [data-share]");
    if (b && buttons[b.dataset.share]) { buttons[b.dataset.share](b); return; }
    const decline = ev.target.closest("[data-decline]");
    if (decline) answerInvitation(decline.closest("form"), false);
  });

  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (form.dataset.shareForm === "invite") { ev.preventDefault(); invite(form); }
    else if (form.dataset.invitation) { ev.preventDefault(); answerInvitation(form, true); }
  });

  document.addEventListener("DOMContentLoaded", () => {
    if (document.body.dataset.page === "shares") loadSharesPage();
    if (document.body.dataset.page === "folder" && document.body.dataset.path === "/") noteInvitations();
  });
})();
