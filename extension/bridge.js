// bridge.js - SecureEdge's isolated-world half: relays the page script's
// credential requests to the service worker.
//
// The page script (page.js, main world) and this script agree on a random
// channel name during document_start, before any page script can run,
// using two fixed hello events that each side answers at most once. After
// that, requests and answers travel as CustomEvents named after the
// secret channel, so the page can neither read the answers nor forge
// them. The page never sees the API token, and it cannot ask for another
// origin's credentials: the service worker takes the origin from the
// sender, not from the message.
(() => {
  "use strict";
  const HELLO_MAIN = "sedge:hello-main";
  const HELLO_BRIDGE = "sedge:hello-bridge";
  const doc = document;
  let channel = null;

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

  function onRequest(e) {
    let req;
    try {
      req = JSON.parse(e.detail);
    } catch {
      return;
    }
    if (!req || typeof req.id !== "number" || req.type !== "credentials") return;
    chrome.runtime
      .sendMessage({ type: "credentials", refresh: req.refresh === true })
      .then((res) => reply(req.id, res || { ok: false, error: "no answer from the extension" }))
      .catch((err) => reply(req.id, { ok: false, error: "extension unavailable: " + err }));
  }

  doc.addEventListener(HELLO_MAIN, onMainHello, true);
  doc.dispatchEvent(new CustomEvent(HELLO_BRIDGE));
})();
