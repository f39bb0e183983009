// Where the APIs are. The local cloud serves its endpoints at /config.json; without it the page assumes
// the layout of `notifyx up` (REST API at <origin>/local, WebSocket API on the next port). Query parameters
// ?http=...&ws=... override both, so the page can be pointed at any deployment (LocalStack, AWS).

/** Resolve {http, ws}: query overrides > /config.json > derived from this page's location. */
export async function loadEndpoints(location = window.location) {
  const query = new URLSearchParams(location.search);
  let http = null;
  let ws = null;
  try {
    const response = await fetch(new URL("/config.json", location.origin), { cache: "no-store" });
    if (response.ok) {
      const endpoints = await response.json();
      http = endpoints.http_api || null;
      ws = endpoints.websocket_api || null;
    }
  } catch {
    // no config served: derive below
  }
  if (!http) http = `${location.origin}/local`;
  if (!ws) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const port = Number(location.port || (location.protocol === "https:" ? 443 : 80)) + 1;
    ws = `${scheme}//${location.hostname}:${port}/local`;
  }
  return {
    http: trimSlash(query.get("http") || http),
    ws: trimSlash(query.get("ws") || ws),
  };
}

function trimSlash(url) {
  return url.replace(/\/+$/, "");
}
