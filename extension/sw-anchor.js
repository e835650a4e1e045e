// sw-anchor.js - the service worker's side of anchor mode: carries a
// frame's anchor operations to sedge's /v1/anchor API, remembers which
// frame owns which session, ends a frame's sessions when the frame goes
// away, and notices when sedge ended one (policy, an administrator, a
// vanished party).
//
// Trust: a session is created for the sender's origin (from Chrome, not
// the message) and only for a site whose policy records (the worker's own
// verdict); every later operation must come from the same frame and
// document that created the session. The API token never leaves here.
//
// Lifetime: sessions are kept in chrome.storage.session, so a restarted
// worker still knows them. Each frame with sessions holds a port open
// (bridge.js); its disconnection (navigation, frame removed, tab closed)
// ends the frame's sessions with DELETE. While sessions exist the worker
// asks GET /v1/anchor/{id} every POLL_MS: a 404 means sedge ended the
// call, and the frame is told so its connection fails like a lost one.
// A session whose frame does not reconnect after a worker restart is
// ended after ORPHAN_MS. A page that vanishes without any of this is
// ended by sedge's own consent/timeout.
import { apiBase } from "./lib/settings.js";
import { fetchJson } from "./lib/http.js";

const POLL_MS = 1000;
const ORPHAN_MS = 10000;
const OPS = ["create", "answer", "offer", "candidate", "delete"];
const STORE = "anchors";

export function makeAnchorService(ctx) {
  // ctx: settings(), authorization(cfg), verdictFor(origin, refresh),
  //      forget(origin), noteTab(tabId, origin, top, verdict), noteError(text, origin),
  //      updateSession(key, fn), getSession(key), senderOrigin(sender)
  const ports = new Map(); // frame key -> port
  const info = new Map(); // session id -> last GET answer
  let poller = 0;
  const started = Date.now();

  function frameKey(sender) {
    return `${sender.tab ? sender.tab.id : -1}:${sender.frameId ?? -1}:${sender.documentId || ""}`;
  }

  async function sessions() {
    return (await ctx.getSession(STORE)) || {};
  }

  async function call(method, path, body) {
    const { settings: cfg } = await ctx.settings();
    const auth = await ctx.authorization(cfg);
    if (auth.error) return { status: 0, error: auth.error };
    try {
      return await fetchJson(apiBase(cfg) + path, {
        method,
        headers: { "Content-Type": "application/json", Authorization: auth.header },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      return { status: 0, error: "cannot reach the relay API: " + e.message };
    }
  }

  function failure(r, what) {
    const why = r.error || (r.body && (r.body.reason || r.body.error)) || `HTTP ${r.status}`;
    return { ok: false, status: r.status, error: `${what}: ${why}` };
  }

  async function create(msg, sender) {
    const origin = ctx.senderOrigin(sender);
    const tabId = sender.tab ? sender.tab.id : undefined;
    const v = await ctx.verdictFor(origin, false);
    if (v.kind !== "recorded") return { ok: false, error: `calls on ${origin} are not anchored (${v.kind}: ${v.reason || "relayed"})` };
    const r = await call("POST", "/v1/anchor", { origin, side: msg.side === "outside" ? "outside" : "inside", offer: msg.offer });
    if (r.status !== 201 || !r.body || typeof r.body.id !== "string" || typeof r.body.offer !== "string") {
      const f = failure(r, "the recording anchor refused the call");
      const code = r.body && r.body.error;
      const verdict = code === "denied_by_policy" ? { kind: "refused", reason: f.error }
        : { kind: "needs-rec", reason: f.error };
      await ctx.noteTab(tabId, origin, sender.frameId === 0, verdict);
      await ctx.noteError(f.error, origin);
      ctx.forget(origin); // ask the policy again next time
      return f;
    }
    const id = r.body.id;
    await ctx.updateSession(STORE, (cur) => ({
      ...(cur || {}),
      [id]: { frame: frameKey(sender), tabId: tabId ?? -1, origin, record: !!r.body.record, at: Date.now() },
    }));
    await ctx.noteTab(tabId, origin, sender.frameId === 0, { ...v, live: true });
    startPolling();
    return { ok: true, session: id, sdp: r.body.offer, record: !!r.body.record };
  }

  async function owned(msg, sender) {
    const s = (await sessions())[msg.session];
    return s && s.frame === frameKey(sender) ? s : null;
  }

  async function forgetSession(id) {
    info.delete(id);
    await ctx.updateSession(STORE, (cur) => {
      const next = { ...(cur || {}) };
      delete next[id];
      return Object.keys(next).length ? next : undefined;
    });
  }

  async function end(id) {
    await forgetSession(id);
    const r = await call("DELETE", "/v1/anchor/" + encodeURIComponent(id));
    return r.status === 204 || r.status === 404;
  }

  async function handle(msg, sender) {
    if (!OPS.includes(msg.op)) return { ok: false, error: "unknown anchor operation" };
    if (msg.op === "create") {
      if (typeof msg.offer !== "string") return { ok: false, error: "no offer" };
      return create(msg, sender);
    }
    if (typeof msg.session !== "string" || !(await owned(msg, sender)))
      return { ok: false, error: "no such anchored call in this frame" };
    const path = "/v1/anchor/" + encodeURIComponent(msg.session);
    let r;
    switch (msg.op) {
      case "answer":
        r = await call("POST", path + "/answer", { answer: String(msg.answer || "") });
        return r.status === 200 && r.body && typeof r.body.answer === "string" ? { ok: true, sdp: r.body.answer }
          : failure(r, "the recording anchor refused the answer");
      case "offer":
        r = await call("POST", path + "/offer", { side: msg.side === "outside" ? "outside" : "inside", offer: String(msg.offer || "") });
        return r.status === 200 && r.body && typeof r.body.offer === "string" ? { ok: true, sdp: r.body.offer }
          : failure(r, "the recording anchor refused the offer");
      case "candidate": {
        const body = { side: msg.side === "outside" ? "outside" : "inside" };
        if (msg.end === true) body.end = true;
        else {
          body.candidate = String(msg.candidate || "");
          if (typeof msg.sdpMid === "string") body.sdpMid = msg.sdpMid;
        }
        r = await call("POST", path + "/candidate", body);
        return r.status === 204 ? { ok: true } : failure(r, "the recording anchor refused a candidate");
      }
      default: // delete
        return { ok: await end(msg.session) };
    }
  }

  // ---- lifetime ----
  async function endFrame(key, reason) {
    for (const [id, s] of Object.entries(await sessions()))
      if (s.frame === key) {
        console.info(`SecureEdge: ending anchored call ${id}: ${reason}`);
        await end(id);
      }
  }

  function onConnect(port) {
    if (port.name !== "sedge-anchor" || !port.sender || port.sender.id !== chrome.runtime.id) return;
    const key = frameKey(port.sender);
    ports.set(key, port);
    port.onMessage.addListener(() => {}); // pings keep the worker awake
    port.onDisconnect.addListener(() => {
      if (ports.get(key) === port) ports.delete(key);
      endFrame(key, "its page went away");
    });
  }

  async function endTab(tabId) {
    for (const [id, s] of Object.entries(await sessions())) if (s.tabId === tabId) await end(id);
  }

  function startPolling() {
    if (poller) return;
    poller = setInterval(poll, POLL_MS);
  }

  let polling = false;
  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const all = await sessions();
      const ids = Object.keys(all);
      if (!ids.length) {
        clearInterval(poller);
        poller = 0;
        return;
      }
      for (const id of ids) {
        const s = all[id];
        const port = ports.get(s.frame);
        if (!port && Date.now() - Math.max(started, s.at) > ORPHAN_MS) {
          await end(id); // its frame never came back after a worker restart
          continue;
        }
        const r = await call("GET", "/v1/anchor/" + encodeURIComponent(id));
        if (r.status === 200 && r.body) info.set(id, r.body);
        if (r.status !== 404) continue;
        // sedge ended it: tell the frame, and ask the policy again (its reason).
        const still = (await sessions())[id];
        if (!still) continue; // ended by the page meanwhile
        await forgetSession(id);
        ctx.forget(s.origin);
        const v = await ctx.verdictFor(s.origin, false);
        const reason = v.kind === "recorded" ? "the recording anchor ended the call" : v.reason || v.kind;
        if (port) {
          try {
            port.postMessage({ type: "ended", id, reason });
          } catch {
            // the frame is going away
          }
        }
        const [tabId, frameId] = s.frame.split(":").map(Number);
        await ctx.noteTab(tabId, s.origin, frameId === 0, v);
      }
    } finally {
      polling = false;
    }
  }

  // The anchored calls of a tab, for the popup.
  async function callsOf(tabId) {
    return Object.entries(await sessions()).filter(([, s]) => s.tabId === tabId).map(([id, s]) => {
      const i = info.get(id);
      return {
        id, origin: s.origin, record: s.record, since: s.at,
        state: i ? i.state : "connecting", recording: i ? i.recording : null,
        rule: i && i.rule ? `rule #${i.rule}${i.rule_name ? " " + i.rule_name : ""}` : "",
      };
    });
  }

  chrome.runtime.onConnect.addListener(onConnect);
  chrome.tabs.onRemoved.addListener((tabId) => endTab(tabId));
  sessions().then((s) => { if (Object.keys(s).length) startPolling(); });

  return { handle, callsOf };
}
