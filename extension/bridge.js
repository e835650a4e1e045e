// bridge.js - SecureEdge's isolated-world half: relays the page script's
// requests (credentials; anchor operations) to the service worker, and
// the worker's notices (an anchored call sedge ended) back.
//
// The page script (page.js, main world) and this script agree on a random
// channel name during document_start, before any page script can run,
// using two fixed hello events that each side answers at most once. After
// that, requests and answers travel as CustomEvents named after the
// secret channel, so the page can neither read the answers nor forge
// them. The page never sees the API token, and it cannot ask for another
// origin's credentials or touch another frame's anchored calls: the
// service worker takes the origin and the frame from the sender, not
// from the message.
//
// Once this frame has an anchored call, a port to the worker stays open
// for the frame's lifetime: when the frame goes away (navigation, tab
// closed, frame removed) the port closes and the worker ends the frame's
// calls at sedge. A ping every 20 s keeps the worker from being stopped
// while calls run; if the worker restarts anyway, the port is reopened.
(() => {
  "use strict";
  const HELLO_MAIN = "sedge:hello-main";
  const HELLO_BRIDGE = "sedge:hello-bridge";
  const OPS = ["create", "answer", "offer", "candidate", "delete"];
  const PING_MS = 20000;
  const doc = document;
  let channel = null;
  let port = null;

  function onMainHello(e) {
    if (channel !== null || typeof e.detail !== "string" || !/^[0-9a-f]{32}$/.test(e.detail)) return;
    channel = e.detail;
    doc.removeEventListener(HELLO_MAIN, onMainHello, true);
    doc.addEventListener(channel + ":req", onRequest, true);
    doc.dispatchEvent(new CustomEvent(channel + ":ack"));
  }

  function reply(id, payload) {
    doc.dispatchEvent(new CustomEvent(channel + ":resp", { detail: JSON.stringify({ id, ...payload }) }));
  }

  function keepPort() {
    if (port) return;
    try {
      port = chrome.runtime.connect({ name: "sedge-anchor" });
    } catch {
      port = null; // the extension was reloaded: this frame's calls end with it
      return;
    }
    const timer = setInterval(() => {
      try {
        port.postMessage({ type: "ping" });
      } catch {
        clearInterval(timer);
      }
    }, PING_MS);
    port.onMessage.addListener((m) => {
      if (m && m.type === "ended" && typeof m.id === "string")
        doc.dispatchEvent(new CustomEvent(channel + ":evt", { detail: JSON.stringify({ type: "ended", id: m.id, reason: String(m.reason || "") }) }));
    });
    port.onDisconnect.addListener(() => {
      clearInterval(timer);
      port = null;
      setTimeout(keepPort, 500); // the worker restarted: tell the new one we are here
    });
  }

  // Only the fields each request may carry, with their types.
  function anchorRequest(req) {
    if (!OPS.includes(req.op)) return null;
    const out = { type: "anchor", op: req.op };
    for (const k of ["session", "side", "offer", "answer", "candidate", "sdpMid"])
      if (typeof req[k] === "string") out[k] = req[k];
    if (req.end === true) out.end = true;
    return out;
  }

  function onRequest(e) {
    let req;
    try {
      req = JSON.parse(e.detail);
    } catch {
      return;
    }
    if (!req || typeof req.id !== "number") return;
    let msg;
    if (req.type === "credentials") msg = { type: "credentials", refresh: req.refresh === true };
    else if (req.type === "anchor") msg = anchorRequest(req);
    if (!msg) return;
    chrome.runtime
      .sendMessage(msg)
      .then((res) => {
        if (msg.type === "anchor" && msg.op === "create" && res && res.ok) keepPort();
        reply(req.id, res || { ok: false, error: "no answer from the extension" });
      })
      .catch((err) => reply(req.id, { ok: false, error: "extension unavailable: " + err }));
  }

  doc.addEventListener(HELLO_MAIN, onMainHello, true);
  doc.dispatchEvent(new CustomEvent(HELLO_BRIDGE));
})();
