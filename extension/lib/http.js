// http.js - one JSON request with a deadline, for the API and the
// identity provider. Pure apart from the injected fetch.

export const FETCH_TIMEOUT_MS = 10000;

// fetchJson(url, init, fetchFn) -> { status, body } (body null when the
// answer is empty or not JSON). Throws an Error in words when nothing
// answered within FETCH_TIMEOUT_MS or the request could not be made.
export async function fetchJson(url, init = {}, fetchFn = fetch) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
  let res;
  try {
    res = await fetchFn(url, { ...init, signal: ctl.signal, cache: "no-store", credentials: "omit" });
  } catch (e) {
    throw new Error(e && e.name === "AbortError" ? `no answer within ${FETCH_TIMEOUT_MS / 1000} s` : (e && e.message) || String(e));
  } finally {
    clearTimeout(timer);
  }
  let body = null;
  try {
    body = res.status === 204 ? null : await res.json();
  } catch {
    body = null;
  }
  return { status: res.status, body };
}
