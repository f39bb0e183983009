// The status page: polls GET /health and shows each service's status and each circuit breaker's state.
import { loadEndpoints } from "./config.js";

const POLL_MS = 3000;
const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

function isHealthy(status) {
  return ["ok", "healthy", "up", "closed"].includes(String(status).toLowerCase());
}

/** A service entry may be a bare status string or an object with a `status` and other facts. */
function describe(entry) {
  if (entry && typeof entry === "object") {
    const { status, ...rest } = entry;
    const details = Object.entries(rest)
      .map(([key, value]) => `${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`)
      .join(" · ");
    return { status: status ?? "unknown", details };
  }
  return { status: entry ?? "unknown", details: "" };
}

function render(health) {
  const overall = $("overall-status");
  overall.textContent = health.status || "unknown";
  overall.dataset.state = isHealthy(health.status) ? "online" : "offline";
  const rows = $("service-rows");
  rows.replaceChildren();
  for (const [name, entry] of Object.entries(health.services || {})) {
    const { status, details } = describe(entry);
    const row = document.createElement("tr");
    row.dataset.testid = "service-row";
    row.dataset.service = name;
    const cells = [name, String(status), details].map((text) => {
      const cell = document.createElement("td");
      cell.textContent = text;
      return cell;
    });
    cells[1].className = isHealthy(status) ? "status-ok" : "status-bad";
    cells[1].dataset.testid = "service-status";
    row.append(...cells);
    rows.append(row);
  }
  const breakers = $("breaker-rows");
  breakers.replaceChildren();
  for (const [name, breaker] of Object.entries(health.breakers || {})) {
    const row = document.createElement("tr");
    row.dataset.testid = "breaker-row";
    row.dataset.breaker = name;
    const opened = breaker.opened_at ? `opened at ${breaker.opened_at}` : "";
    const cells = [name, breaker.state, String(breaker.failures), opened].map((text) => {
      const cell = document.createElement("td");
      cell.textContent = text;
      return cell;
    });
    cells[1].className = isHealthy(breaker.state) ? "status-ok" : "status-bad";
    cells[1].dataset.testid = "breaker-state";
    row.append(...cells);
    breakers.append(row);
  }
}

async function poll(url) {
  const started = performance.now();
  try {
    const response = await fetch(url, { cache: "no-store" });
    const body = await response.json().catch(() => null);
    // an unhealthy system may answer 503 with the same document: show it rather than a bare error
    if (body && (body.services || body.status)) {
      render(body);
      $("error-banner").hidden = true;
    } else {
      const error = body && body.error;
      throw new Error(error ? `${error.code}: ${error.message}` : `HTTP ${response.status}`);
    }
  } catch (error) {
    $("overall-status").textContent = "unreachable";
    $("overall-status").dataset.state = "offline";
    $("error-text").textContent = `Health check failed: ${error.message}`;
    $("error-banner").hidden = false;
  }
  const took = Math.round(performance.now() - started);
  $("checked-at").textContent = `${new Date().toLocaleTimeString()} (answered in ${took} ms)`;
}

const endpoints = await loadEndpoints();
const url = `${endpoints.http}/health`;
$("health-url").textContent = url;
await poll(url);
setInterval(() => poll(url), POLL_MS);
