// browser.mjs - start Debian's Chromium for a browser test and attach to it.
//
// Chromium is spawned here (exact flags, its own process group, a fresh
// profile, HOME/XDG/TMPDIR in a temp dir, because Chromium writes outside
// its profile) and attached over CDP with playwright-core; no browser is
// ever downloaded. close() kills the whole process group and removes the
// temp dir. Every wait is bounded.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const live = new Set(); // { pid, home } of browsers not closed yet

// Kill every browser this process started (synchronous: for a hard time
// limit's handler right before process.exit).
export function killAll() {
  for (const b of live) {
    try { process.kill(-b.pid, "SIGKILL"); } catch { /* gone */ }
    rmSync(b.home, { recursive: true, force: true });
  }
  live.clear();
}

// Parse "--key value" pairs.
export function parseArgs(argv) {
  return Object.fromEntries(
    argv.reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
  );
}

// launch({ ext, spki, withExtension = true, flags = [] }) -> handle
// handle: { browser, context, sw (null without extension), extId, log(), close() }
export async function launch({ ext, spki, withExtension = true, flags = [] }) {
  const home = mkdtempSync(join(tmpdir(), "sedge-chromium-"));
  const profile = join(home, "profile");
  const argv = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-features=WebRtcHideLocalIpsWithMdns,MediaRouter",
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    ...(spki ? [`--ignore-certificate-errors-spki-list=${spki}`] : []),
    `--user-data-dir=${profile}`, "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
    ...(withExtension ? [`--load-extension=${ext}`, `--disable-extensions-except=${ext}`] : ["--disable-extensions"]),
    ...flags,
    "about:blank",
  ];
  const env = { ...process.env, HOME: home, TMPDIR: home, XDG_CONFIG_HOME: join(home, ".config"),
    XDG_CACHE_HOME: join(home, ".cache"), XDG_DATA_HOME: join(home, ".local/share") };
  const proc = spawn("/usr/bin/chromium", argv, { env, detached: true, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (d) => { stderr = (stderr + d).slice(-20000); });
  const me = { pid: proc.pid, home };
  live.add(me);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    live.delete(me);
    try { process.kill(-proc.pid, "SIGKILL"); } catch { /* gone */ }
    await sleep(300);
    rmSync(home, { recursive: true, force: true });
  };
  try {
    const f = join(profile, "DevToolsActivePort");
    let port = "";
    for (let i = 0; i < 150 && !port; i++) {
      if (existsSync(f)) port = readFileSync(f, "utf8").split("\n")[0];
      if (!port) await sleep(100);
    }
    if (!port) throw new Error("Chromium did not open its DevTools port: " + stderr.slice(-2000));
    const browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
    const context = browser.contexts()[0];
    let sw = null, extId = "";
    if (withExtension) {
      for (let i = 0; i < 100 && !sw; i++) {
        sw = context.serviceWorkers().find((w) => w.url().startsWith("chrome-extension://"));
        if (!sw) await sleep(100);
      }
      if (!sw) throw new Error("the extension's service worker did not start");
      extId = new URL(sw.url()).host;
    }
    return { browser, context, sw, extId, log: () => stderr, close };
  } catch (e) {
    await close();
    throw e;
  }
}

// The chrome tab id of a playwright page (asked through the extension).
export async function tabIdOf(sw, page) {
  const url = page.url();
  return sw.evaluate(async (u) => {
    const tabs = await chrome.tabs.query({});
    const t = tabs.find((x) => x.url === u);
    return t ? t.id : -1;
  }, url);
}
