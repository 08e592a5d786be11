"use strict";
// The whole page: no framework, no build step, nothing fetched from elsewhere. Text from the server is only
// ever set with textContent, so a document cannot inject markup. The session lives in memory only.
let session = null;
let role = null;
let maxUpload = 0;
let newConversation = false;  // the session keeps a conversation on the server; the next question starts a new one
const $ = (id) => document.getElementById(id);

// Every word the page shows comes from the server's messages (rag/language), in the reader's language for
// the page and in the question's language for an answer.
const catalogues = {};
let pageWords = {};
async function messages(lang) {
  if (!catalogues[lang]) {
    const response = await fetch("/messages?lang=" + encodeURIComponent(lang));
    catalogues[lang] = (await response.json()).messages;
  }
  return catalogues[lang];
}
function say(words, key, values = {}) {
  // Python's str.format placeholders, with {x:.2f} read as two decimals.
  return (words[key] || key).replace(/\{(\w+)(?:!r)?(?::\.(\d)f)?\}/g, (_, name, digits) =>
    digits ? Number(values[name]).toFixed(Number(digits)) : String(values[name]));
}
const heading = (text) => text.replace(/\s*:\s*$/, "");  // "Sources :" is a line in the CLI, a heading here

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
  if (response.status === 401 && session) { loggedOut(say(pageWords, "web.session_ended")); }
  if (!response.ok) throw new Error(body.error || ("HTTP " + response.status));
  return body;
}

function postJSON(path, data) {
  return call(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });
}

// What `page` counts depends on the format (as in the CLI's text output).
const PAGE_NAMES = { pptx: "slide", xlsx: "sheet", tif: "frame", tiff: "frame" };
function where(words, source, page, ocr) {
  const unit = say(words, PAGE_NAMES[source.split(".").pop().toLowerCase()] || "page");
  return (page ? source + ", " + unit + " " + page : source) + (ocr ? " (" + say(words, "scanned") + ")" : "");
}

// The quote, highlighted, with the answer's own words in it marked stronger.
function quoteNode(quote, span) {
  const mark = el("mark");
  const at = span ? quote.indexOf(span) : -1;
  if (at < 0) { mark.textContent = quote; return mark; }
  mark.append(quote.slice(0, at), el("strong", span), quote.slice(at + span.length));
  return mark;
}

// A written answer: each verified sentence with its markers, one after the other.
function writtenNode(a) {
  const node = el("p", null, "answer written");
  a.sentences.forEach((s, i) => {
    node.append(el("span", (i ? " " : "") + s.text + " " + s.citations.map((n) => "[" + n + "]").join(""), "sentence"));
  });
  return node;
}

async function showAnswer(a) {
  const words = await messages(a.language || "en");
  const box = $("answer");
  box.replaceChildren();
  box.append(a.mode === "written" ? writtenNode(a) : el("p", a.answer, a.abstained ? "answer abstained" : "answer"));
  if (a.fallback) box.append(el("p", say(words, "written.fallback"), "meta"));
  if (a.standalone && a.standalone !== a.question)  // a follow-up, answered as the question it means
    box.append(el("p", say(words, "conversation.understood", { question: a.standalone }), "meta understood"));
  const span = a.span;  // null when the quote itself is the answer
  for (const [acronym, longForm] of Object.entries(a.read_as || {}))
    box.append(el("p", say(words, "read_as", { acronym: acronym, long_form: longForm }), "meta"));
  if (a.citations && a.citations.length) {
    box.append(el("h2", heading(say(words, "sources"))));
    const list = el("ol", null, "sources");
    for (const c of a.citations) {
      const item = el("li");
      item.append(el("span", "[" + c.n + "] " + where(words, c.source, c.page, c.ocr), "where"),
                  el("span", "  " + say(words, "score") + " " + c.score.toFixed(2), "score"));
      // A written answer's passage may support several sentences: one quote each ("\n…\n" between them).
      for (const part of c.quote.split("\n…\n")) {
        const quote = el("blockquote");
        quote.append(quoteNode(part, span));
        item.append(quote);
      }
      list.append(item);
    }
    box.append(list);
  } else if (a.nearest && a.nearest.length) {
    if (a.reason) box.append(el("p", say(words, "why", { text: a.reason.text }), "meta"));
    box.append(el("h2", heading(say(words, "nearest"))));
    const list = el("ul", null, "sources");
    for (const n of a.nearest) {
      const item = el("li", where(words, n.source, n.page) + " (" + say(words, "score") + " " + n.score.toFixed(2) + ")");
      if (n.quote) {
        const quote = el("blockquote");
        quote.append(el("span", say(words, "closest") + ": ", "meta"), document.createTextNode(n.quote));
        item.append(quote);
      }
      list.append(item);
    }
    box.append(list);
  }
  if (a.mode === "written" && a.dropped && a.dropped.length)
    box.append(el("p", say(words, "written.dropped") + " " + a.dropped.map((d) => d.code).join(", "), "meta"));
  box.append(el("p", (a.mode === "written" ? "" : say(words, "web.confidence") + " " + a.confidence.toFixed(2) + " · ") +
                     Math.round(a.timings.total_ms) + " ms", "meta"));
}

// Ask with server-sent events: a written answer shows as the model writes it, each sentence marked once it is
// verified or dropped; then the answer itself (only the verified sentences). An extractive answer comes at once.
async function askStreaming(data) {
  const headers = { "Content-Type": "application/json", Authorization: "Bearer " + session };
  const response = await fetch("/ask", { method: "POST", headers, body: JSON.stringify(Object.assign({ stream: true }, data)) });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    if (response.status === 401 && session) loggedOut(say(pageWords, "web.session_ended"));
    throw new Error(body.error || ("HTTP " + response.status));
  }
  const box = $("answer");
  const live = el("p", null, "meta live");
  const checks = el("ul", null, "checks");
  box.replaceChildren(live, checks);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const kind = (block.match(/^event: (.*)$/m) || [])[1];
      const payload = JSON.parse((block.match(/^data: (.*)$/m) || [, "null"])[1]);
      if (kind === "text") live.textContent += payload;
      else if (kind === "kept" || kind === "dropped") {
        const mark = say(pageWords, kind === "kept" ? "written.kept_mark" : "written.dropped_mark");
        checks.append(el("li", (kind === "kept" ? "✓ " : "✗ ") + mark + ": " + payload.text, kind));
      } else if (kind === "error") throw new Error(payload.error);
      else if (kind === "answer") { await showAnswer(payload); addTurn(payload.question); }
    }
  }
}

// The conversation's questions so far, above the last answer; a new conversation clears them.
function addTurn(question) {
  $("turns").append(el("li", question));
  $("new-conversation").hidden = false;
}
function clearTurns() {
  $("turns").replaceChildren();
  $("new-conversation").hidden = true;
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
  clearTurns();
  status(message);
}

async function busy(form, work) {
  const button = form.querySelector("button");
  button.disabled = true;
  status("");
  try { await work(); } catch (e) { status(e.message); } finally { button.disabled = false; }
}

// The page's fixed words: each element with data-msg (its text) or data-msg-placeholder.
async function translatePage() {
  pageWords = await messages((navigator.language || "en").slice(0, 2).toLowerCase());
  for (const node of document.querySelectorAll("[data-msg]")) node.textContent = say(pageWords, node.dataset.msg);
  for (const node of document.querySelectorAll("[data-msg-placeholder]"))
    node.placeholder = say(pageWords, node.dataset.msgPlaceholder);
  document.documentElement.lang = pageWords["web.lang"] || "en";
}

document.addEventListener("DOMContentLoaded", () => {
  translatePage().catch(() => { /* the page's English words stay */ });
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
      $("answer").replaceChildren(el("p", say(pageWords, "web.thinking"), "meta"));
      const within = $("within").value.trim();
      await askStreaming({ question: $("question").value, collection: chosenCollections(), in: within ? [within] : [],
                           new_conversation: newConversation });
      newConversation = false;
    });
  });
  $("upload").addEventListener("submit", (event) => {
    event.preventDefault();
    busy(event.target, async () => {
      const files = Array.from($("files").files);
      // Checked here too: the server refuses a larger body with 413 before reading it, and a browser
      // still sending may only see the connection close.
      const size = files.reduce((sum, file) => sum + file.size, 0);
      if (size > maxUpload) throw new Error(say(pageWords, "web.too_large", {
        size: (size / 1048576).toFixed(1), limit: (maxUpload / 1048576).toFixed(1) }));
      const form = new FormData();
      for (const file of files) form.append("file", file, file.name);
      const target = encodeURIComponent($("upload-collection").value || "default");
      const r = await call("/ingest?collection=" + target, { method: "POST", body: form });
      const failed = r.failed.map((f) => f.file + ": " + f.reason).join("; ");
      $("upload-result").textContent = say(pageWords, "web.uploaded", { ingested: r.ingested.length,
        unchanged: r.unchanged.length, failed: r.failed.length }) + (failed ? " (" + failed + ")" : "") +
        " · " + r.chunks + " " + say(pageWords, "web.chunks");
      await loadDocuments();
    });
  });
  $("new-conversation").addEventListener("click", () => {
    newConversation = true;
    clearTurns();
    $("answer").replaceChildren();
    $("question").value = "";
    $("question").focus();
  });
  $("collections").addEventListener("change", () => loadDocuments().catch((e) => status(e.message)));
  $("logout").addEventListener("click", async () => {
    try { await call("/logout", { method: "POST" }); } catch (e) { /* the session is dropped either way */ }
    loggedOut(say(pageWords, "web.logged_out"));
  });
});
