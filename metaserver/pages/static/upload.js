/* Tessera web app: uploads, by the same block protocol as the CLI.
 *
 * A file is cut into 4 MiB blocks (File.slice: the browser reads one block at a time);
 * each block's SHA-256 comes from WebCrypto, its MD5 from SparkMD5. POST /v1/uploads
 * opens a session and answers which blocks the server still needs, each with a grant;
 * those blocks are PUT straight to a block server (which verifies them against the
 * grant), then POST /v1/uploads/{id}/commit makes the version. The session id is kept
 * in localStorage: an upload cut short (a dropped connection, a closed tab) resumes
 * with GET /v1/uploads/{id}, sending only the blocks still needed.
 */
"use strict";

(() => {
  const BLOCK = 4 * 1024 * 1024;
  const PARALLEL_FILES = 3;
  const PARALLEL_BLOCKS = 3;
  const BATCH = 50; // small files opened and committed together
  const PART = 8; // blocks of a big file listed at once (its first part opens the session)
  const STORE_PREFIX = "tessera-upload:";
  const { api, toast, formatBytes, join, sleep } = Tessera;

  const list = () => document.getElementById("upload-list");
  const queue = [];
  let active = 0;
  let totalBytes = 0, doneBytes = 0;

  function blockServers() {
    try { return JSON.parse(document.body.dataset.blockServers || "[]"); } catch { return []; }
  }

  const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");

  async function hashBlock(blob) {
    const buf = await blob.arrayBuffer();
    const sha = await crypto.subtle.digest("SHA-256", buf);
    return { size: buf.byteLength, md5: SparkMD5.ArrayBuffer.hash(buf), sha256: hex(sha) };
  }

  /* ---- the upload list ---- */
  class Item {
    constructor(file, path) {
      this.file = file;
      this.path = path;
      this.sent = 0; // bytes stored on the block servers
      this.stored = new Set(); // indexes of the blocks stored
      this.inflight = new Map(); // block index -> bytes of it sent so far
      this.li = document.createElement("li");
      const name = document.createElement("span");
      name.className = "uname";
      name.textContent = path; // text, never markup
      name.title = path;
      this.bar = document.createElement("progress");
      this.bar.max = Math.max(file.size, 1);
      this.bar.value = 0;
      this.bar.setAttribute("aria-label", "Progress of " + path);
      this.state = document.createElement("span");
      this.state.className = "state";
      this.li.append(name, this.bar, this.state);
      list().append(this.li);
      this.setState("waiting");
    }
    setState(text, failed) {
      this.state.textContent = text;
      this.state.classList.toggle("failed", !!failed);
    }
    progress() {
      let flying = 0;
      for (const n of this.inflight.values()) flying += n;
      this.bar.value = Math.min(this.sent + flying, this.file.size);
      showTotal();
    }
    get key() {
      return STORE_PREFIX + JSON.stringify([this.path, this.file.size, this.file.lastModified]);
    }
  }

  const items = [];
  function showTotal() {
    let sent = 0;
    for (const it of items) sent += Number(it.bar.value);
    const bar = document.getElementById("upload-total");
    bar.max = Math.max(totalBytes, 1);
    bar.value = sent;
    document.getElementById("upload-total-text").textContent =
      `${formatBytes(sent)} of ${formatBytes(totalBytes)} · ${items.filter((i) => i.done).length} of ${items.length} files`;
  }

  /* ---- one file ----
   * A big file's block list is sent in parts of PART blocks: the session opens with the first
   * part (and its id is saved at once), and the blocks of one part are PUT while the next is
   * hashed (POST /v1/uploads/{id}/blocks). A resumed session goes on from the blocks it lists. */
  const sizeOf = (item, index) => Math.min(BLOCK, item.file.size - index * BLOCK);

  function markStored(item, index) {
    if (item.stored.has(index)) return;
    item.stored.add(index);
    item.sent += sizeOf(item, index);
    item.progress();
  }

  async function hashPart(item, first) {
    const blocks = [];
    for (let i = first; i < first + PART && i * BLOCK < item.file.size; i++) {
      blocks.push(await hashBlock(item.file.slice(i * BLOCK, (i + 1) * BLOCK)));
    }
    return blocks;
  }

  async function resumed(item) {
    const saved = localStorage.getItem(item.key);
    if (!saved) return null;
    try {
      return await api("GET", "/v1/uploads/" + encodeURIComponent(saved)); // only what is still needed is sent
    } catch (e) {
      if (e.status === 401) throw e;
      localStorage.removeItem(item.key); // expired, committed or gone: start afresh
      return null;
    }
  }

  async function openSession(item) {
    const found = await resumed(item);
    if (found) return found;
    item.setState("checking");
    const blocks = await hashPart(item, 0);
    const s = await api("POST", "/v1/uploads", {
      path: item.path, size: item.file.size, blocks, client_modified: item.file.lastModified / 1000,
      blocks_complete: blocks.length * BLOCK >= item.file.size,
    });
    localStorage.setItem(item.key, s.upload_id);
    return s;
  }

  function putBlock(item, base, block, grant) {
    const start = block.index * BLOCK;
    const body = item.file.slice(start, Math.min(start + BLOCK, item.file.size));
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", `${base}/v1/blocks/${block.block_id}`);
      xhr.withCredentials = true; // the session cookie; the block server lets only this app's origin in
      xhr.setRequestHeader("X-Tessera-Grant", grant);
      xhr.upload.onprogress = (ev) => { item.inflight.set(block.index, ev.loaded); item.progress(); };
      xhr.onload = () => {
        item.inflight.delete(block.index);
        if (xhr.status === 200) { markStored(item, block.index); resolve(); return; }
        let code = "http_" + xhr.status;
        try { code = JSON.parse(xhr.responseText).error.code; } catch { /* not JSON */ }
        reject(Object.assign(new Error(`block ${block.index}: ${code}`), { status: xhr.status, code }));
      };
      xhr.onerror = () => { item.inflight.delete(block.index); item.progress(); reject(Object.assign(new Error("network"), { status: 0 })); };
      xhr.send(body);
    });
  }

  /* PUT the needed blocks of an answer, a few at once; a dropped connection is retried with backoff. */
  async function sendBlocks(item, answer) {
    const servers = blockServers();
    answer.blocks.filter((b) => b.state === "stored").forEach((b) => markStored(item, b.index));
    const needed = answer.blocks.filter((b) => b.state === "needed" && b.grant);
    let next = 0;
    const worker = async (w) => {
      while (next < needed.length) {
        const block = needed[next++];
        for (let attempt = 0; ; attempt++) {
          try {
            // a retry goes to the next block server, if there are several
            await putBlock(item, servers[(block.index + w + attempt) % servers.length], block, block.grant);
            break;
          } catch (e) {
            if (e.code === "grant_expired" || e.code === "hash_mismatch" || e.code === "size_mismatch" || e.status === 401) throw e;
            if (e.status && e.status < 500 && e.status !== 429 && e.status !== 408) throw e;
            item.setState("retrying");
            await sleep(Math.min(30000, 500 * 2 ** attempt));
            item.setState("uploading");
          }
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_BLOCKS }, (_, w) => worker(w)));
    answer.blocks.forEach((b) => markStored(item, b.index)); // blocks that share an id with one just sent too
  }

  /* Send what the session lists, hashing and listing the rest of the file part by part. */
  async function sendAll(item, session) {
    const id = encodeURIComponent(session.upload_id);
    let listed = session.blocks_listed, complete = session.blocks_complete;
    const quiet = (p) => { p.catch(() => {}); return p; }; // awaited below; no "unhandled" report meanwhile
    let sending = quiet(sendBlocks(item, session));
    while (!complete) {
      const part = await hashPart(item, listed);
      const answer = await api("POST", `/v1/uploads/${id}/blocks`, { start: listed, blocks: part });
      await sending;
      listed = answer.blocks_listed;
      complete = answer.blocks_complete;
      sending = quiet(sendBlocks(item, answer));
    }
    await sending;
  }

  async function uploadOne(item) {
    let session = await openSession(item);
    for (let round = 0; round < 5; round++) {
      item.setState("uploading");
      try {
        await sendAll(item, session);
        item.setState("saving");
        const meta = await api("POST", `/v1/uploads/${encodeURIComponent(session.upload_id)}/commit`);
        localStorage.removeItem(item.key);
        return meta;
      } catch (e) {
        if (e.code === "hash_mismatch" || e.code === "size_mismatch") { localStorage.removeItem(item.key); throw e; }
        if (e.code !== "grant_expired" && e.code !== "blocks_missing") throw e;
        session = await api("GET", "/v1/uploads/" + encodeURIComponent(session.upload_id)); // fresh grants
      }
    }
    throw new Error("the upload did not complete");
  }

  /* Files of one block or less go in batches: one request opens all their sessions, one
   * commits them all (POST /v1/uploads/batch, /v1/uploads/commit_batch). */
  async function uploadBatch(batch) {
    const files = [];
    for (const item of batch) {
      item.setState("checking");
      const blocks = item.file.size ? [await hashBlock(item.file)] : [];
      files.push({ path: item.path, size: item.file.size, blocks, client_modified: item.file.lastModified / 1000 });
    }
    const opened = (await api("POST", "/v1/uploads/batch", { files })).uploads;
    const ready = [];
    opened.forEach((s, i) => (s.error ? fail(batch[i], s.error) : ready.push([batch[i], s])));
    let next = 0;
    const worker = async () => {
      while (next < ready.length) {
        const [item, session] = ready[next++];
        item.setState("uploading");
        try { await sendBlocks(item, session); } catch (e) { fail(item, e); item.failed = true; }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL_BLOCKS }, worker));
    const sent = ready.filter(([item]) => !item.failed);
    if (!sent.length) return;
    const results = (await api("POST", "/v1/uploads/commit_batch", { upload_ids: sent.map(([, s]) => s.upload_id) })).results;
    results.forEach((r, i) => (r.error ? fail(sent[i][0], r.error) : succeed(sent[i][0])));
  }

  function succeed(item) {
    item.done = true;
    item.bar.value = item.file.size;
    item.setState("done");
  }

  function fail(item, e) {
    item.setState(e.status === 0 ? "connection lost" : e.message || String(e), true);
  }

  /* The next piece of work: a big file alone, or up to BATCH small ones. */
  function nextUnit() {
    const first = queue.shift();
    if (first.file.size > BLOCK) return () => uploadOne(first).then(() => succeed(first), (e) => fail(first, e));
    const batch = [first];
    for (let i = 0; i < queue.length && batch.length < BATCH; ) {
      if (queue[i].file.size <= BLOCK) batch.push(...queue.splice(i, 1));
      else i++;
    }
    return () => uploadBatch(batch).catch((e) => batch.filter((it) => !it.done).forEach((it) => fail(it, e)));
  }

  async function pump() {
    while (active < PARALLEL_FILES && queue.length) {
      const unit = nextUnit();
      active++;
      unit().finally(() => {
        active--;
        showTotal();
        if (!active && !queue.length) finished();
        else pump();
      });
    }
  }

  function finished() {
    const failed = items.filter((i) => !i.done).length;
    toast(failed ? `${failed} upload(s) failed` : "Upload complete");
    document.getElementById("uploads").dataset.state = failed ? "failed" : "done";
    Tessera.refresh();
  }

  function enqueue(files) {
    if (!files.length) return;
    if (!window.crypto || !crypto.subtle) {
      toast("Uploads need a secure page (https, or localhost).");
      return;
    }
    const folder = document.body.dataset.path || "/";
    const panel = document.getElementById("uploads");
    panel.hidden = false;
    panel.dataset.state = "running";
    for (const { file, rel } of files) {
      const item = new Item(file, join(folder, rel));
      items.push(item);
      queue.push(item);
      totalBytes += file.size;
    }
    showTotal();
    pump();
  }

  /* ---- the pickers ---- */
  function fromInput(input) {
    const files = [...input.files].map((file) => ({ file, rel: file.webkitRelativePath || file.name }));
    input.value = "";
    enqueue(files);
  }

  /* ---- drag and drop (folders through the entries API where the browser has it) ---- */
  function readAll(reader) {
    return new Promise((resolve, reject) => {
      const out = [];
      const more = () => reader.readEntries((batch) => { if (!batch.length) resolve(out); else { out.push(...batch); more(); } }, reject);
      more();
    });
  }

  async function walk(entry, prefix, out) {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push({ file, rel: prefix + entry.name });
    } else if (entry.isDirectory) {
      const children = await readAll(entry.createReader());
      if (!children.length) out.push({ folder: prefix + entry.name }); // empty: made as a folder
      for (const child of children) await walk(child, prefix + entry.name + "/", out);
    }
  }

  async function makeFolders(rels) {
    const here = document.body.dataset.path || "/";
    for (const rel of rels) {
      try { await api("POST", "/v1/files/mkdir", { path: join(here, rel) }); } catch (e) { if (e.code !== "exists") toast(e.message); }
    }
  }

  async function fromDrop(dt) {
    const out = [];
    const entries = [...(dt.items || [])].map((it) => (it.kind === "file" && it.webkitGetAsEntry ? it.webkitGetAsEntry() : null));
    if (entries.length && entries.every(Boolean)) {
      for (const entry of entries) await walk(entry, "", out);
    } else {
      for (const file of dt.files) out.push({ file, rel: file.name });
    }
    await makeFolders(out.filter((o) => o.folder).map((o) => o.folder));
    if (!out.some((o) => o.file)) { Tessera.refresh(); return; }
    enqueue(out.filter((o) => o.file));
  }

  document.addEventListener("DOMContentLoaded", () => {
    const files = document.getElementById("pick-files");
    const folder = document.getElementById("pick-folder");
    const zone = document.getElementById("dropzone");
    if (!files || !zone) return;
    files.addEventListener("change", () => fromInput(files));
    folder.addEventListener("change", () => fromInput(folder));
    let depth = 0;
    zone.addEventListener("dragenter", (ev) => { ev.preventDefault(); depth++; zone.classList.add("dragging"); });
    zone.addEventListener("dragover", (ev) => { ev.preventDefault(); ev.dataTransfer.dropEffect = "copy"; });
    zone.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; zone.classList.remove("dragging"); } });
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      depth = 0;
      zone.classList.remove("dragging");
      fromDrop(ev.dataTransfer).catch((e) => toast(e.message));
    });
  });
})();
