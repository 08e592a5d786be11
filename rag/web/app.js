"use strict";
// The whole page: no framework, no build step, nothing fetched from elsewhere. Text from the server is only
// ever set with textContent, so a document cannot inject markup. The session lives in memory only.
let session = null;
let role = null;
let maxUpload = 0;
const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function status(message) { $("status").textContent = message || ""; }

async function call(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (session) headers.Authorization = "Bearer " + session;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const body = response.status === 204 ? {} : await response.json().catch(() => ({}));
  if (response.status === 401 && session) { loggedOut("Your session ended; log in again."); }
  if (!response.ok) throw new Error(body.error || ("HTTP " + response.status));
  return body;
}

function postJSON(path, data) {
  return call(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });
}

// What `page` counts depends on the format (as in the CLI's text output).
const PAGE_NAMES = { pptx: "slide", xlsx: "sheet", tif: "frame", tiff: "frame" };
function where(source, page, ocr) {
  const unit = PAGE_NAMES[source.split(".").pop().toLowerCase()] || "p.";
  return (page ? source + ", " + unit + " " + page : source) + (ocr ? " (scanned)" : "");
}

// The quote, highlighted, with the answer's own words in it marked stronger.
function quoteNode(quote, span) {
  const mark = el("mark");
  const at = span ? quote.indexOf(span) : -1;
  if (at < 0) { mark.textContent = quote; return mark; }
  mark.append(quote.slice(0, at), el("strong", span), quote.slice(at + span.length));
  return mark;
}

function showAnswer(a) {
  const box = $("answer");
  box.replaceChildren();
  box.append(el("p", a.answer, a.abstained ? "answer abstained" : "answer"));
  const span = a.span;  // null when the quote itself is the answer
  for (const [acronym, longForm] of Object.entries(a.read_as || {}))
    box.append(el("p", "Read " + acronym + " as \u201c" + longForm + "\u201d, as your documents spell it out.", "meta"));
  if (a.citations && a.citations.length) {
    box.append(el("h2", "Sources"));
    const list = el("ol", null, "sources");
    for (const c of a.citations) {
      const item = el("li");
      item.append(el("span", "[" + c.n + "] " + where(c.source, c.page, c.ocr), "where"),
                  el("span", "  score " + c.score.toFixed(2), "score"));
      const quote = el("blockquote");
      quote.append(quoteNode(c.quote, span));
      item.append(quote);
      list.append(item);
    }
    box.append(list);
  } else if (a.nearest && a.nearest.length) {
    if (a.reason) box.append(el("p", "Why: " + a.reason.text + ".", "meta"));
    box.append(el("h2", "Nearest passages (not enough to answer)"));
    const list = el("ul", null, "sources");
    for (const n of a.nearest) {
      const item = el("li", where(n.source, n.page) + " (score " + n.score.toFixed(2) + ")");
      if (n.quote) {
        const quote = el("blockquote");
        quote.append(el("span", "closest sentence: ", "meta"), document.createTextNode(n.quote));
        item.append(quote);
      }
      list.append(item);
    }
    box.append(list);
  }
  box.append(el("p", "confidence " + a.confidence.toFixed(2) + " · " + Math.round(a.timings.total_ms) + " ms", "meta"));
}

// The collections this token may use: all selected at first; the question and the list follow the choice.
async function loadCollections() {
  const body = await call("/collections");
  const uploadTo = body.collections.includes("default") ? "default" : body.collections[0];
  for (const id of ["collections", "upload-collection"]) {
    const select = $(id);
    select.replaceChildren();
    for (const name of body.collections) {
      const option = el("option", name);
      option.value = name;
      option.selected = id === "collections" || name === uploadTo;
      select.append(option);
    }
  }
}

function chosenCollections() {
  return Array.from($("collections").selectedOptions).map((o) => o.value);
}

async function loadDocuments() {
  const query = chosenCollections().map((c) => "collection=" + encodeURIComponent(c)).join("&");
  const body = await call("/documents" + (query ? "?" + query : ""));
  const rows = $("documents").tBodies[0];
  rows.replaceChildren();
  for (const d of body.documents) {
    const row = el("tr");
    row.append(el("td", d.collection), el("td", d.source), el("td", d.pages), el("td", d.chunks),
               el("td", d.ingested_at));
    rows.append(row);
  }
}

function loggedIn(name, newRole) {
  role = newRole;
  $("who").textContent = name + " (" + role + ")";
  for (const id of ["who", "logout"]) $(id).hidden = false;
  $("login-panel").hidden = true;
  $("ask-panel").hidden = false;
  $("documents-panel").hidden = false;
  $("upload-panel").hidden = !(role === "ingester" || role === "admin");
  $("question").focus();
  loadCollections().then(loadDocuments).catch((e) => status(e.message));
}

function loggedOut(message) {
  session = null;
  role = null;
  for (const id of ["who", "logout", "ask-panel", "upload-panel", "documents-panel"]) $(id).hidden = true;
  $("login-panel").hidden = false;
  $("answer").replaceChildren();
  status(message);
}

async function busy(form, work) {
  const button = form.querySelector("button");
  button.disabled = true;
  status("");
  try { await work(); } catch (e) { status(e.message); } finally { button.disabled = false; }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    busy(event.target, async () => {
      const body = await postJSON("/login", { token: $("token").value.trim(), code: $("code").value.trim() || null });
      $("token").value = "";
      $("code").value = "";
      session = body.session;
      maxUpload = body.max_upload_bytes;
      loggedIn(body.name, body.role);
    });
  });
  $("ask").addEventListener("submit", (event) => {
    event.preventDefault();
    busy(event.target, async () => {
      $("answer").replaceChildren(el("p", "Thinking…", "meta"));
      const within = $("within").value.trim();
      showAnswer(await postJSON("/ask", { question: $("question").value, collection: chosenCollections(),
                                          in: within ? [within] : [] }));
    });
  });
  $("upload").addEventListener("submit", (event) => {
    event.preventDefault();
    busy(event.target, async () => {
      const files = Array.from($("files").files);
      // Checked here too: the server refuses a larger body with 413 before reading it, and a browser
      // still sending may only see the connection close.
      const size = files.reduce((sum, file) => sum + file.size, 0);
      if (size > maxUpload) throw new Error("the files are " + (size / 1048576).toFixed(1) +
        " MB together; the server takes at most " + (maxUpload / 1048576).toFixed(1) + " MB per upload");
      const form = new FormData();
      for (const file of files) form.append("file", file, file.name);
      const target = encodeURIComponent($("upload-collection").value || "default");
      const r = await call("/ingest?collection=" + target, { method: "POST", body: form });
      const failed = r.failed.map((f) => f.file + ": " + f.reason).join("; ");
      $("upload-result").textContent = "ingested " + r.ingested.length + ", unchanged " + r.unchanged.length +
        ", failed " + r.failed.length + (failed ? " (" + failed + ")" : "") + " · " + r.chunks + " chunks";
      await loadDocuments();
    });
  });
  $("collections").addEventListener("change", () => loadDocuments().catch((e) => status(e.message)));
  $("logout").addEventListener("click", async () => {
    try { await call("/logout", { method: "POST" }); } catch (e) { /* the session is dropped either way */ }
    loggedOut("Logged out.");
  });
});
