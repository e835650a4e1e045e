// words.js - what the popup and the options page say about a verdict (see
// lib/api.js for the verdict kinds). Pure; Node tests import it.

// describe(verdict or null, status) -> { cls, sub, head, why }
export function describe(v, st) {
  if (!v) return { cls: "none", head: "No web page", why: "WebRTC on this tab is not a web site's (nothing to relay)." };
  switch (v.kind) {
    case "relayed":
      return { cls: "relayed", head: "Relayed", why: "Calls on this site go through your enterprise's relay. They are not recorded." };
    case "bypass":
      return { cls: "bypass", head: "Left alone", why: "Your administrator exempts this site: it uses its own WebRTC servers." };
    case "recorded":
      return { cls: "recorded", head: "Recorded", why: `Calls on this site are recorded by your enterprise${v.reason ? " (" + v.reason + ")" : ""}. The other party's media and yours pass through the enterprise's recorder.` };
    case "needs-rec":
      return { cls: "needs-rec", head: "Blocked: recording required", why: `Calls on this site must be recorded and cannot be right now, so they cannot start: ${v.reason}.` };
    case "refused":
      return { cls: "refused", head: "Refused", why: `Calls on this site are blocked: ${v.reason}.` };
    default:
      if (v.unconfigured) return { cls: "error", sub: "setup", head: "Not set up", why: `Calls are blocked until SecureEdge is set up: ${v.reason.replace(/^SecureEdge is not set up: /, "")}. Open Settings.` };
      if (v.signedOut) return { cls: "error", sub: "signin", head: "Sign-in needed", why: "Calls are blocked until you sign in with your enterprise account." };
      return { cls: "error", head: "Not working", why: `Calls are blocked: ${v.reason}.` };
  }
}

export function ago(at, nowMs = Date.now()) {
  const s = Math.max(0, Math.round((nowMs - at) / 1000));
  if (s < 5) return "just now";
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}
