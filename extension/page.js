// page.js - SecureEdge's main-world half: every RTCPeerConnection the page
// creates uses only the enterprise relay (sedge's TURN URIs, fresh
// credentials, iceTransportPolicy "relay"); the page's own ICE servers
// are dropped.
//
// Design:
// - Runs at document_start, before any page script, and keeps private
//   references to everything it uses (the native constructor and methods,
//   dispatchEvent, JSON), so a page that later patches globals cannot
//   intercept or redirect it.
// - RTCPeerConnection (and the legacy webkitRTCPeerConnection alias) is
//   replaced by a function that builds a native peer connection with a
//   rewritten configuration. Its prototype IS the native prototype, so
//   instanceof, prototype patching, subclassing, static methods
//   (generateCertificate) and events behave as before.
// - Credentials are fetched at document_start through the bridge (see
//   bridge.js) so they are usually ready before the page creates a peer
//   connection. ICE gathering starts at setLocalDescription, so that call
//   waits for credentials and installs them first; a connection created
//   before they arrived is never allowed to gather with anything else.
// - When policy refuses the origin (or the API cannot be reached), the
//   configuration has no ICE servers and a relay-only policy: nothing is
//   gathered, nothing leaves the browser, and the page sees an ordinary
//   ICE failure. The extension's badge says why.
// - Shortly before the credentials expire they are renewed and installed
//   on every live peer connection (setConfiguration), so later TURN
//   refreshes and ICE restarts use valid ones.
(() => {
  "use strict";
  const Native = window.RTCPeerConnection;
  if (typeof Native !== "function" || Native.__sedgeWrapped) return;

  const HELLO_MAIN = "sedge:hello-main";
  const HELLO_BRIDGE = "sedge:hello-bridge";
  const doc = document;
  const ET = EventTarget.prototype;
  const addEL = ET.addEventListener;
  const removeEL = ET.removeEventListener;
  const dispatch = ET.dispatchEvent;
  const CE = CustomEvent;
  const jsonParse = JSON.parse;
  const jsonStringify = JSON.stringify;
  const assign = Object.assign;
  const defineProperty = Object.defineProperty;
  const reflectConstruct = Reflect.construct;
  const reflectApply = Reflect.apply;
  const PromiseCtor = Promise;
  const now = Date.now;
  const setT = setTimeout;
  const nSetConfiguration = Native.prototype.setConfiguration;
  const nGetConfiguration = Native.prototype.getConfiguration;
  const nSetLocalDescription = Native.prototype.setLocalDescription;
  const signalingStateGetter = Object.getOwnPropertyDescriptor(Native.prototype, "signalingState").get;
  const WeakRefCtor = window.WeakRef;
  const fnToString = Function.prototype.toString;

  // ---- the private channel to the bridge ----
  const rnd = new Uint8Array(16);
  crypto.getRandomValues(rnd);
  let channel = "";
  for (let i = 0; i < rnd.length; i++) channel += (rnd[i] < 16 ? "0" : "") + rnd[i].toString(16);
  let acked = false;
  const pending = new Map();
  let nextId = 1;

  function sayHello() {
    reflectApply(dispatch, doc, [new CE(HELLO_MAIN, { detail: channel })]);
  }
  function onBridgeHello() {
    if (!acked) sayHello();
  }
  function onAck() {
    acked = true;
    reflectApply(removeEL, doc, [HELLO_BRIDGE, onBridgeHello, true]);
    reflectApply(removeEL, doc, [channel + ":ack", onAck, true]);
  }
  function onResponse(e) {
    let msg;
    try {
      msg = jsonParse(e.detail);
    } catch {
      return;
    }
    const done = msg && pending.get(msg.id);
    if (!done) return;
    pending.delete(msg.id);
    done(msg);
  }
  reflectApply(addEL, doc, [HELLO_BRIDGE, onBridgeHello, true]);
  reflectApply(addEL, doc, [channel + ":ack", onAck, true]);
  reflectApply(addEL, doc, [channel + ":resp", onResponse, true]);
  sayHello();

  function ask(refresh) {
    return new PromiseCtor((resolve) => {
      if (!acked) {
        resolve({ ok: false, error: "SecureEdge bridge is not available in this frame" });
        return;
      }
      const id = nextId++;
      pending.set(id, resolve);
      setT(() => {
        if (pending.delete(id)) resolve({ ok: false, error: "SecureEdge did not answer in time" });
      }, 15000);
      reflectApply(dispatch, doc, [new CE(channel + ":req", { detail: jsonStringify({ id, type: "credentials", refresh }) })]);
    });
  }

  // ---- credentials ----
  // state.creds: { ok, bypass, iceServers, refreshAt, error, retryAt, mode }
  const state = { creds: null, inflight: null, timer: 0 };
  const live = new Set(); // WeakRefs of our peer connections
  const pageConfig = new WeakMap(); // pc -> the configuration the page asked for

  function fresh() {
    const c = state.creds;
    if (c === null) return false;
    if (c.bypass) return true;
    // A refusal or error is asked again after retryAt (the employee may
    // sign in, the policy may change), without reloading the page.
    return c.ok ? now() < c.refreshAt : now() < (c.retryAt || 0);
  }

  function fetchCreds(refresh) {
    if (state.inflight) return state.inflight;
    state.inflight = ask(refresh).then((c) => {
      state.inflight = null;
      state.creds = c;
      if (c.ok && !c.bypass && c.mode === "anchor")
        console.info("SecureEdge: policy requires recording for this site; using the relay in TURN mode");
      scheduleRefresh();
      return c;
    });
    return state.inflight;
  }

  function ensure() {
    return fresh() ? PromiseCtor.resolve(state.creds) : fetchCreds(state.creds !== null);
  }

  function relayConfig(base) {
    const c = state.creds;
    if (c && c.bypass) return base;
    const out = assign({}, base || {});
    out.iceServers = c && c.ok ? c.iceServers : [];
    out.iceTransportPolicy = "relay";
    return out;
  }

  function install(pc) {
    try {
      const c = state.creds;
      const cfg = c && c.bypass ? pageConfig.get(pc) || {} : relayConfig(reflectApply(nGetConfiguration, pc, []));
      reflectApply(nSetConfiguration, pc, [cfg]);
    } catch (e) {
      // A closed connection, or one whose configuration cannot change now.
    }
  }

  function scheduleRefresh() {
    const c = state.creds;
    if (state.timer || !c || !c.ok || c.bypass) return;
    const delay = Math.max(1000, c.refreshAt - now());
    state.timer = setT(() => {
      state.timer = 0;
      const anyLive = pruneLive();
      if (!anyLive) {
        state.creds = null; // fetch again when the page next needs them
        return;
      }
      fetchCreds(true).then((n) => {
        if (!n.ok) return;
        for (const ref of live) {
          const pc = ref.deref();
          if (pc) install(pc);
        }
      });
    }, delay);
  }

  function pruneLive() {
    let any = false;
    for (const ref of live) {
      const pc = ref.deref();
      if (!pc || reflectApply(signalingStateGetter, pc, []) === "closed") live.delete(ref);
      else any = true;
    }
    return any;
  }

  // ---- the wrapper ----
  function RTCPeerConnection(configuration, ...rest) {
    if (new.target === undefined)
      throw new TypeError(
        "Failed to construct 'RTCPeerConnection': Please use the 'new' operator, this DOM object constructor cannot be called as a function.");
    const pc = reflectConstruct(Native, [relayConfig(configuration), ...rest], new.target);
    pageConfig.set(pc, configuration || {});
    if (!(state.creds && state.creds.bypass)) {
      if (WeakRefCtor) live.add(new WeakRefCtor(pc));
      if (!fresh()) fetchCreds(state.creds !== null);
    }
    return pc;
  }
  RTCPeerConnection.prototype = Native.prototype;
  Object.setPrototypeOf(RTCPeerConnection, Native); // statics: generateCertificate
  defineProperty(RTCPeerConnection, "length", { value: Native.length });
  defineProperty(Native.prototype, "constructor", {
    value: RTCPeerConnection, writable: true, enumerable: false, configurable: true,
  });
  defineProperty(RTCPeerConnection, "__sedgeWrapped", { value: true });

  const patched = new Map();
  function patch(name, fn) {
    defineProperty(fn, "name", { value: name });
    defineProperty(fn, "length", { value: Native.prototype[name].length });
    patched.set(fn, Native.prototype[name]);
    defineProperty(Native.prototype, name, { value: fn, writable: true, enumerable: true, configurable: true });
  }

  patch("setConfiguration", function setConfiguration(configuration) {
    const r = reflectApply(nSetConfiguration, this, [relayConfig(configuration)]);
    pageConfig.set(this, configuration || {});
    return r;
  });

  patch("setLocalDescription", function setLocalDescription(...args) {
    const pc = this;
    return ensure().then(() => {
      install(pc);
      return reflectApply(nSetLocalDescription, pc, args);
    });
  });

  // Our functions print like native ones.
  patched.set(RTCPeerConnection, Native);
  const toStringProxy = new Proxy(fnToString, {
    apply(target, self, args) {
      const orig = patched.get(self);
      return reflectApply(target, orig !== undefined ? orig : self, args);
    },
  });
  defineProperty(Function.prototype, "toString", { value: toStringProxy, writable: true, configurable: true });

  defineProperty(window, "RTCPeerConnection", { value: RTCPeerConnection, writable: true, configurable: true });
  if ("webkitRTCPeerConnection" in window)
    defineProperty(window, "webkitRTCPeerConnection", { value: RTCPeerConnection, writable: true, configurable: true });

  fetchCreds(false);
})();
