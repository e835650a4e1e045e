// options.js - the fallback settings page (chrome.storage.local). Settings
// the enterprise set through managed storage win and are shown disabled.
"use strict";
const FIELDS = ["apiUrl", "tokenSource", "token", "basicUser", "basicPassword", "bypassOrigins"];

async function load() {
  let managed = {};
  try {
    managed = await chrome.storage.managed.get(null);
  } catch {
    managed = {};
  }
  const local = await chrome.storage.local.get(FIELDS);
  for (const k of FIELDS) {
    const el = document.getElementById(k);
    const v = managed[k] !== undefined ? managed[k] : local[k];
    if (v !== undefined) el.value = Array.isArray(v) ? v.join("\n") : v;
    if (managed[k] !== undefined) {
      el.disabled = true;
      el.previousElementSibling.insertAdjacentHTML("beforeend", ' <span class="managed">(set by policy)</span>');
    }
  }
}

document.getElementById("form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const out = {};
  for (const k of FIELDS) {
    const el = document.getElementById(k);
    if (el.disabled) continue;
    out[k] = k === "bypassOrigins" ? el.value.split("\n").map((s) => s.trim()).filter(Boolean) : el.value.trim();
  }
  await chrome.storage.local.set(out);
  document.getElementById("status").textContent = "Saved.";
});

load();
