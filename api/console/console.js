// console.js - the sedge compliance console: a small page over the JSON
// API (/v1/recordings). No framework and no build step; everything it
// shows is built with textContent (never innerHTML), so data from the
// catalog cannot inject markup. The token lives in sessionStorage (this
// tab only) and goes out as "Authorization: Bearer"; the media element
// plays through the per-file grant URLs the API hands a compliance token.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("sedge-token") || "", next: null, query: "", current: null };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}

function badge(text, kind) {
  return el("span", { class: `badge ${kind}` }, text);
}

async function api(method, path, body) {
  const opts = { method, headers: { Authorization: `Bearer ${state.token}` } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  if (r.status === 401) {
    signOut("The token was refused (unknown, deleted or mistyped).");
    throw new Error("unauthorized");
  }
  const ct = r.headers.get("Content-Type") || "";
  const data = ct.startsWith("application/json") ? await r.json() : null;
  if (!r.ok) throw new Error(data && data.reason ? data.reason : `HTTP ${r.status}`);
  return data;
}

function say(id, text, isError) {
  const p = $(id);
  p.textContent = text;
  p.className = isError ? "error" : "";
}

function signOut(why) {
  sessionStorage.removeItem("sedge-token");
  state.token = "";
  $("login").hidden = false;
  $("search").hidden = true;
  $("detail").hidden = true;
  $("logout").hidden = true;
  if (why) say("status", why, true);
  $("token").focus();
}

function showSearch() {
  $("login").hidden = true;
  $("detail").hidden = true;
  $("search").hidden = false;
  $("logout").hidden = false;
}

const fmtTime = (s) => (s ? s.replace("T", " ").replace("Z", "") : "-");
const fmtDur = (ms) => {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};

function statusBadge(r) {
  const kind = { complete: "ok", recording: "none", incomplete: "warn", failed: "bad" }[r.status] || "none";
  return badge(r.status, kind);
}
const sigBadge = (r) => badge(r.manifest.signature, ["ed25519", "hmac-sha256"].includes(r.manifest.signature) ? "ok" : "warn");
const verBadge = (r) => (r.verified ? badge(r.verified.ok ? "verified" : "FAILED", r.verified.ok ? "ok" : "bad") : badge("not yet", "none"));
const holdBadge = (r) => (r.hold ? badge("on hold", "warn") : "-");

function row(r) {
  return el("tr", { "data-id": r.id },
    el("td", {}, fmtTime(r.started)), el("td", {}, r.user || "-"), el("td", {}, r.origin || "-"),
    el("td", {}, r.remote || "-"), el("td", {}, fmtDur(r.duration_ms)), el("td", {}, statusBadge(r)),
    el("td", {}, sigBadge(r)), el("td", {}, verBadge(r)), el("td", {}, holdBadge(r)),
    el("td", {}, el("button", { type: "button", class: "open", "aria-label": `Open the recording of ${r.user || "unknown user"} started ${fmtTime(r.started)}`, onclick: () => openRecording(r.id) }, "Open")));
}

function queryString() {
  const q = new URLSearchParams();
  const user = $("q-user").value.trim(), origin = $("q-origin").value.trim();
  if (user) q.set("user", user);
  if (origin) q.set("origin", origin);
  if ($("q-since").value) q.set("since", $("q-since").value);
  if ($("q-until").value) q.set("until", `${$("q-until").value}T23:59:59Z`);
  if ($("q-status").value) q.set("status", $("q-status").value);
  q.set("limit", "25");
  return q.toString();
}

async function search(more) {
  const tbody = $("results").tBodies[0];
  if (!more) {
    state.query = queryString();
    state.next = null;
    tbody.replaceChildren();
  }
  say("status", "Searching...");
  try {
    const q = state.query + (more && state.next ? `&before=${encodeURIComponent(state.next)}` : "");
    const d = await api("GET", `/v1/recordings?${q}`);
    for (const r of d.recordings) tbody.append(row(r));
    state.next = d.next;
    $("more").hidden = !d.next;
    const n = tbody.rows.length;
    say("status", n ? `${n} recording${n === 1 ? "" : "s"}${d.next ? " (more available)" : ""}.` : "No recording matches.");
  } catch (e) {
    if (e.message !== "unauthorized") say("status", `Search failed: ${e.message}`, true);
  }
}

function facts(r) {
  const dl = $("facts");
  dl.replaceChildren();
  const add = (k, v) => dl.append(el("dt", {}, k), el("dd", {}, v));
  add("Id", r.id);
  add("User", r.user || "-");
  add("Website", r.origin || "-");
  add("Remote party", r.remote || "-");
  add("Session", r.session_id || "-");
  add("Rule", r.rule || "-");
  add("Started / ended (UTC)", `${fmtTime(r.started)} / ${fmtTime(r.ended)}`);
  add("Length", fmtDur(r.duration_ms));
  add("Status", statusBadge(r));
  if (r.reason) add("Why", r.reason);
  add("Streams", r.streams.map((s) => `${s.media} ${s.codec} (${s.direction})`).join(", ") || "-");
  add("Signature", el("span", {}, sigBadge(r), ` key ${r.manifest.key_id || "-"}`));
  add("Last verification", verBadge(r));
  add("Keep until", r.retain_until ? fmtTime(r.retain_until) : "no deadline");
  add("Legal hold", r.hold ? `by ${r.hold.by} at ${fmtTime(r.hold.at)}: ${r.hold.reason}` : "none");
}

function player(r) {
  const box = $("player");
  box.replaceChildren();
  const media = r.files.find((f) => f.url && /\.(mp4|ogg)$/.test(f.name));
  if (!media) {
    box.append(el("p", { class: "hint" }, r.files.some((f) => f.url) ? "No playable file." : "Playback needs a compliance token."));
    return;
  }
  const isVideo = media.name.endsWith(".mp4");
  const m = el(isVideo ? "video" : "audio", { id: "media", controls: "", preload: "metadata", src: media.url,
    "aria-label": `${isVideo ? "Video" : "Audio"} of the recording (${media.name})` });
  box.append(m);
}

function files(r) {
  const tbody = $("files").tBodies[0];
  tbody.replaceChildren();
  for (const f of r.files)
    tbody.append(el("tr", {}, el("td", {}, f.name), el("td", {}, f.bytes.toLocaleString("en")), el("td", { class: "hash" }, f.sha256)));
}

async function auditTrail(id) {
  const tbody = $("audit").tBodies[0];
  try {
    const d = await api("GET", `/v1/recordings/${encodeURIComponent(id)}/audit`);
    tbody.replaceChildren();
    for (const a of d.audit)
      tbody.append(el("tr", {}, el("td", {}, fmtTime(new Date(a.at * 1000).toISOString().slice(0, 19) + "Z")),
        el("td", {}, a.actor), el("td", {}, a.action), el("td", {}, a.detail || "")));
  } catch (e) {
    if (e.message !== "unauthorized") say("action-status", `Audit trail: ${e.message}`, true);
  }
}

async function openRecording(id) {
  try {
    const r = await api("GET", `/v1/recordings/${encodeURIComponent(id)}`);
    state.current = r;
    $("search").hidden = true;
    $("detail").hidden = false;
    $("detail-h").textContent = `Recording of ${r.user || "unknown user"}, ${fmtTime(r.started)}`;
    $("verify-result").replaceChildren();
    say("action-status", "");
    facts(r);
    player(r);
    files(r);
    $("hold").disabled = !!r.hold;
    $("release").disabled = !r.hold;
    await auditTrail(id);
    $("detail-h").focus();
  } catch (e) {
    if (e.message !== "unauthorized") say("status", `Cannot open ${id}: ${e.message}`, true);
  }
}

async function refresh() {
  const id = state.current.id;
  const r = await api("GET", `/v1/recordings/${encodeURIComponent(id)}`);
  state.current = r;
  facts(r);
  $("hold").disabled = !!r.hold;
  $("release").disabled = !r.hold;
  await auditTrail(id);
}

const fileStates = { ok: "ok", missing: "MISSING", size_mismatch: "SIZE DIFFERS", hash_mismatch: "CHANGED", not_in_manifest: "NOT IN MANIFEST" };

async function verify() {
  const box = $("verify-result");
  say("action-status", "Verifying: every file is re-hashed...");
  try {
    const v = await api("POST", `/v1/recordings/${encodeURIComponent(state.current.id)}/verify`);
    box.replaceChildren(
      el("p", { id: "verify-verdict" }, badge(v.ok ? "verified" : "VERIFICATION FAILED", v.ok ? "ok" : "bad"), " ",
        v.error ? v.error : `signature: ${v.signature.text}`),
      el("ul", {}, ...v.files.map((f) => el("li", {}, `${f.name}: ${fileStates[f.state] || f.state}`))));
    say("action-status", v.ok ? "The recording is intact and its signature holds." : "The recording failed verification.", !v.ok);
    await refresh();
  } catch (e) {
    if (e.message !== "unauthorized") say("action-status", `Verify failed: ${e.message}`, true);
  }
}

async function hold(on) {
  const reason = $("hold-reason").value.trim();
  if (on && !reason) {
    say("action-status", "A legal hold needs a reason (case or matter number).", true);
    $("hold-reason").focus();
    return;
  }
  try {
    const path = `/v1/recordings/${encodeURIComponent(state.current.id)}/hold`;
    await (on ? api("PUT", path, { reason }) : api("DELETE", path, reason ? { reason } : undefined));
    say("action-status", on ? "The recording is on legal hold: it cannot be deleted." : "The hold is released.");
    $("hold-reason").value = "";
    await refresh();
  } catch (e) {
    if (e.message !== "unauthorized") say("action-status", `${on ? "Hold" : "Release"} failed: ${e.message}`, true);
  }
}

async function exportTar() {
  const id = state.current.id;
  say("action-status", "Preparing the export...");
  try {
    const r = await fetch(`/v1/recordings/${encodeURIComponent(id)}/export`, { headers: { Authorization: `Bearer ${state.token}` } });
    if (!r.ok) {
      const d = await r.json().catch(() => null);
      throw new Error(d && d.reason ? d.reason : `HTTP ${r.status}`);
    }
    const url = URL.createObjectURL(await r.blob());
    const a = el("a", { href: url, download: `${id}.tar` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    say("action-status", `Exported ${id}.tar (see VERIFY.txt inside to check it offline).`);
    await auditTrail(id);
  } catch (e) {
    say("action-status", `Export failed: ${e.message}`, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("sedge-token", state.token);
    $("token").value = "";
    showSearch();
    await search(false);
    $("q-user").focus();
  });
  $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search(false); });
  $("more").addEventListener("click", () => search(true));
  $("back").addEventListener("click", () => {
    const m = $("media");
    if (m) m.pause();
    $("detail").hidden = true;
    $("search").hidden = false;
    search(false);
  });
  $("verify").addEventListener("click", verify);
  $("hold").addEventListener("click", () => hold(true));
  $("release").addEventListener("click", () => hold(false));
  $("export").addEventListener("click", exportTar);
  $("logout").addEventListener("click", () => signOut(""));
  if (state.token) {
    showSearch();
    search(false);
  }
});
