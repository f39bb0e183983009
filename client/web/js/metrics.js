// The dashboard's live charts: polls /dashboard/data.json (the local cloud's CloudWatch metrics, alarms and
// X-Ray traces) and draws them with uPlot (client/vendor/uPlot.iife.min.js, a global `uPlot`).
const POLL_MS = 3000;
const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const PALETTE = ["#2f6fed", "#c4320a", "#12805c", "#b54708", "#7a5af8", "#0e9384", "#dd2590", "#667085",
  "#4e5ba6", "#a15c07", "#099250", "#d92d20", "#155eef", "#6938ef"];
const charts = new Map();
let selectedTrace = null;
let firstIndex = 0;  // the window starts at the first step with data (at least the last minute is shown)

/** One chart (created once, then fed new data): `series` is [{label, values, color?, dash?}]. */
function chart(testid, series, { unit = "", stacked = false } = {}, timestamps) {
  const holder = $(testid);
  if (!holder) return;
  const data = [timestamps.slice(firstIndex),
    ...series.map((s) => s.values.slice(firstIndex).map((v) => (v === null ? null : v)))];
  const key = series.map((s) => s.label).join("|");
  let entry = charts.get(testid);
  if (entry && entry.key !== key) {
    entry.plot.destroy();
    entry = null;
  }
  if (!entry) {
    const width = Math.max(240, holder.clientWidth - 4);
    const plot = new uPlot({
      width, height: 190, legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] } },
      axes: [{ stroke: "#667085", grid: { stroke: "#eef0f3" } },
        { stroke: "#667085", grid: { stroke: "#eef0f3" }, size: 56, values: (u, ticks) => ticks.map((t) => withUnit(t, unit)) }],
      series: [{}, ...series.map((s, i) => ({
        label: s.label, stroke: s.color || PALETTE[i % PALETTE.length], width: 2, spanGaps: !s.gaps,
        dash: s.dash, fill: stacked ? `${s.color || PALETTE[i % PALETTE.length]}22` : undefined,
        points: { show: false },
      }))],
    }, data, holder);
    entry = { plot, key };
    charts.set(testid, entry);
  } else {
    entry.plot.setData(data);
  }
  holder.dataset.points = String(series.reduce((n, s) => n + s.values.filter((v) => v !== null).length, 0));
}

function withUnit(value, unit) {
  if (unit === "ms" && Math.abs(value) >= 1000) return `${(value / 1000).toFixed(value % 1000 ? 1 : 0)} s`;
  return `${fmt(value)}${unit ? ` ${unit}` : ""}`.replace(" /s", "/s").replace(" %", "%");
}

function fmt(value) {
  if (value === null || value === undefined) return "–";
  if (Math.abs(value) >= 1000) return `${(value / 1000).toFixed(1)}k`;
  if (Math.abs(value) >= 10 || Number.isInteger(value)) return String(Math.round(value));
  return value.toFixed(1);
}

function last(values) {
  for (let i = values.length - 1; i >= 0; i -= 1) if (values[i] !== null) return values[i];
  return null;
}

function flat(value, length) {
  return Array.from({ length }, () => value);
}

function stat(testid, text) {
  const el = $(testid);
  if (el) el.textContent = text;
}

function renderFunctions(data, t) {
  const entries = Object.entries(data.functions);
  const series = (field) => entries.map(([logical, f]) => ({ label: logical, values: f[field] }));
  chart("chart-lambda-invocations", series("invocations_per_s"), { unit: "/s" }, t);
  chart("chart-lambda-errors", series("errors_per_s"), { unit: "/s" }, t);
  chart("chart-lambda-duration", series("duration_p50_ms"), { unit: "ms" }, t);
  chart("chart-lambda-concurrency", series("concurrency"), {}, t);
  const rows = $("function-rows");
  rows.replaceChildren();
  for (const [logical, f] of entries) {
    const row = document.createElement("tr");
    row.dataset.testid = "function-row";
    const cells = [logical, f.totals.invocations, f.totals.errors, f.totals.throttles,
      `${fmt(last(f.duration_p50_ms))} / ${fmt(last(f.duration_p99_ms))} ms`].map((text) => {
      const cell = document.createElement("td");
      cell.textContent = String(text);
      return cell;
    });
    if (f.totals.errors) cells[2].className = "status-bad";
    row.append(...cells);
    rows.append(row);
  }
}

function renderAlarms(alarms) {
  const rows = $("alarm-rows");
  rows.replaceChildren();
  let firing = 0;
  for (const alarm of alarms) {
    const row = document.createElement("tr");
    row.dataset.testid = "alarm-row";
    row.dataset.state = alarm.state;
    const state = document.createElement("td");
    state.textContent = alarm.state;
    state.className = alarm.state === "ALARM" ? "status-bad" : alarm.state === "OK" ? "status-ok" : "muted";
    const name = document.createElement("td");
    name.textContent = alarm.name.replace(/^notifyx-/, "");
    name.title = alarm.description || "";
    const reason = document.createElement("td");
    reason.textContent = alarm.reason;
    reason.className = "small muted";
    row.append(state, name, reason);
    rows.append(row);
    if (alarm.state === "ALARM") firing += 1;
  }
  const summary = $("alarm-summary");
  summary.textContent = firing ? `${firing} alarm${firing > 1 ? "s" : ""} firing` : "no alarm firing";
  summary.dataset.state = firing ? "offline" : "online";
}

function renderTraces(data) {
  const list = $("trace-rows");
  list.replaceChildren();
  for (const trace of data.traces) {
    const row = document.createElement("tr");
    row.dataset.testid = "trace-row";
    row.className = trace.id === data.waterfall.trace_id ? "selected" : "";
    row.addEventListener("click", () => { selectedTrace = trace.id; poll(); });
    const cells = [new Date(trace.start * 1000).toLocaleTimeString(), trace.root.replace(/^notifyx-/, ""),
      `${fmt(trace.duration_ms)} ms`, String(trace.segments)].map((text) => {
      const cell = document.createElement("td");
      cell.textContent = text;
      return cell;
    });
    if (trace.fault) cells[1].className = "status-bad";
    row.append(...cells);
    list.append(row);
  }
  const rows = data.waterfall.rows;
  const holder = $("waterfall");
  holder.replaceChildren();
  stat("waterfall-trace", data.waterfall.trace_id || "no trace yet");
  if (!rows.length) return;
  const total = Math.max(...rows.map((r) => r.offset_ms + r.duration_ms), 0.001);
  for (const r of rows) {
    const line = document.createElement("div");
    line.className = "wf-row";
    line.dataset.testid = "waterfall-row";
    const label = document.createElement("div");
    label.className = "wf-label";
    label.style.paddingLeft = `${r.depth * 0.8}rem`;
    label.textContent = r.name.replace(/^notifyx-/, "") + (r.origin === "AWS::Lambda" ? " (Lambda)" : "");
    label.title = `${r.origin || r.namespace || ""} ${r.name}`;
    const track = document.createElement("div");
    track.className = "wf-track";
    const bar = document.createElement("div");
    bar.className = `wf-bar wf-${(r.origin || r.namespace || "local").replace(/[^a-z]/gi, "").toLowerCase()}`;
    if (r.error) bar.classList.add("wf-error");
    bar.style.left = `${(100 * r.offset_ms) / total}%`;
    bar.style.width = `${Math.max(0.3, (100 * r.duration_ms) / total)}%`;
    const time = document.createElement("span");
    time.className = "wf-time";
    time.textContent = `${fmt(r.duration_ms)} ms`;
    track.append(bar, time);
    line.append(label, track);
    holder.append(line);
  }
}

function render(data) {
  const t = data.timestamps;
  const busy = [data.publish.committed_per_s, ...Object.values(data.functions).map((f) => f.invocations_per_s)];
  const first = Math.min(...busy.map((values) => values.findIndex((v) => v !== null)).filter((i) => i >= 0));
  firstIndex = Number.isFinite(first) ? Math.max(0, Math.min(first - 1, t.length - 60 / data.step_s)) : 0;
  const p = data.publish;
  chart("chart-publishes", [{ label: "committed/s", values: p.committed_per_s, color: "#12805c" },
    { label: "aborted/s", values: p.aborted_per_s, color: "#c4320a" }], { unit: "" }, t);
  chart("chart-abort-rate", [{ label: "abort rate %", values: p.abort_rate_pct, color: "#c4320a" }], { unit: "%" }, t);
  chart("chart-latency", [{ label: "p50", values: p.latency_p50_ms }, { label: "p90", values: p.latency_p90_ms },
    { label: "p99", values: p.latency_p99_ms }, { label: "2PC p50", values: p.commit_p50_ms, dash: [4, 4] }],
  { unit: "ms" }, t);
  const d = data.delivery;
  chart("chart-deliveries", [{ label: "deliveries/s", values: d.deliveries_per_s },
    { label: "410 gone removed/s", values: d.gone_removed_per_s, color: "#b54708" }], {}, t);
  chart("chart-connections", [{ label: "open connections", values: d.open_connections, color: "#7a5af8" }], {}, t);
  stat("stat-publish-rate", `${fmt(last(p.committed_per_s) ?? 0)}/s`);
  stat("stat-p99", `${fmt(last(p.latency_p99_ms))} ms`);
  stat("stat-connections", fmt(last(d.open_connections) ?? 0));
  stat("stat-deliveries", `${fmt(last(d.deliveries_per_s) ?? 0)}/s`);

  const mailSource = data.event_sources[0];
  const queues = Object.values(data.queues);
  const mailQueue = mailSource ? queues.find((q) => q.name === mailSource.queue) : null;
  const dlq = queues.find((q) => q !== mailQueue) || null;
  if (mailQueue) {
    chart("chart-mail-queue", [{ label: "queued (visible)", values: mailQueue.visible },
      { label: "in flight (not visible)", values: mailQueue.in_flight, color: "#7a5af8" },
      { label: "sender concurrency", values: mailSource.concurrency, color: "#12805c" },
      { label: `MaximumConcurrency ${mailSource.maximum_concurrency}`,
        values: flat(mailSource.maximum_concurrency, t.length), color: "#c4320a", dash: [6, 4] }], {}, t);
  }
  if (dlq) {
    chart("chart-dlq", [{ label: "dead letters", values: dlq.visible, color: "#c4320a" }], {}, t);
    stat("stat-dlq", fmt(last(dlq.visible) ?? 0));
  }
  chart("chart-mail", [{ label: "sent/s", values: data.mail.sent_per_s, color: "#12805c" },
    { label: "retried/s", values: data.mail.retried_per_s, color: "#b54708" },
    { label: "failed/s", values: data.mail.failed_per_s, color: "#c4320a" }], {}, t);
  renderFunctions(data, t);
  const breakers = $("breaker-change-rows");
  breakers.replaceChildren();
  for (const b of data.breakers) {
    const row = document.createElement("tr");
    row.dataset.testid = "breaker-change-row";
    for (const text of [b.breaker || b.service || "", b.state, String(b.changes)]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    breakers.append(row);
  }
  if (!data.breakers.length) {
    const row = document.createElement("tr");
    const cell = document.createElement("td");
    cell.colSpan = 3;
    cell.className = "muted small";
    cell.textContent = "no breaker changed state in the last hour";
    row.append(cell);
    breakers.append(row);
  }
  renderAlarms(data.alarms);
  renderTraces(data);
  stat("metrics-updated", new Date(data.now * 1000).toLocaleTimeString());
  document.body.dataset.metrics = "loaded";
}

async function poll() {
  try {
    const query = selectedTrace ? `?trace=${encodeURIComponent(selectedTrace)}` : "";
    const response = await fetch(`/dashboard/data.json${query}`, { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    $("metrics-error").hidden = true;
  } catch (error) {
    $("metrics-error").hidden = false;
    $("metrics-error").textContent = `Metrics unavailable: ${error.message}`;
  }
}

await poll();
setInterval(poll, POLL_MS);
window.addEventListener("resize", () => {
  for (const [testid, entry] of charts) {
    const holder = $(testid);
    if (holder) entry.plot.setSize({ width: Math.max(240, holder.clientWidth - 4), height: 190 });
  }
});
