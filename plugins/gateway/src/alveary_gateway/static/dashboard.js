// The alveary dashboard: polls /v1/pools, /v1/agents and /v1/tasks, follows /v1/events.
// Everything from the server goes into the page as text (textContent), never as HTML.
"use strict";

const MAX_EVENTS = 200; // rows of the events table
const MAX_TASKS = 50; // rows of the recent tasks table
const WINDOW = 60; // seconds shown by the charts
const QUEUE_LIMIT = 1000; // tasks counted per state; more shows as "1000+"
const PRIORITIES = ["critical", "high", "medium", "low"];
const TERMINAL = new Set(["succeeded", "failed", "cancelled", "dead"]);
const TOKEN_KEY = "alveary.token";

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- talking to the API --------------------------------------------------------------------

let needToken = false; // a 401 was answered: wait for a token rather than retry

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path) {
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) {
    needToken ||= response.status === 401;
    let message = response.statusText;
    try {
      message = (await response.json()).error.message;
    } catch {
      // not our error shape: keep the status text
    }
    throw new ApiError(response.status, message);
  }
  return response.json();
}

function say(text) {
  $("status").textContent = text;
}

function sayError(err) {
  if (err.status === 401) say("The API needs a token: enter it above.");
  else if (err.status === 403) say(`Refused: ${err.message}`);
  else say(`Cannot reach the API: ${err.message}`);
}

// --- tables --------------------------------------------------------------------------------

function cell(value, className) {
  const td = document.createElement("td");
  if (value instanceof Node) td.append(value);
  else td.textContent = value === null || value === undefined ? "" : String(value);
  if (className) td.className = className;
  return td;
}

function row(values) {
  const tr = document.createElement("tr");
  for (const value of values) tr.append(value instanceof HTMLTableCellElement ? value : cell(value));
  return tr;
}

function fill(table, rows, empty) {
  const body = $(table).tBodies[0];
  if (rows.length === 0) {
    const td = cell(empty, "empty");
    td.colSpan = $(table).tHead.rows[0].cells.length;
    rows = [row([td])];
  }
  body.replaceChildren(...rows);
}

function brief(value, most = 120) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (text === undefined) return "";
  return text.length > most ? `${text.slice(0, most - 1)}…` : text;
}

function seconds(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  return value < 1 ? `${(value * 1000).toFixed(0)} ms` : `${value.toFixed(2)} s`;
}

function clock(epoch) {
  return new Date(epoch * 1000).toLocaleTimeString();
}

function badge(text) {
  const span = document.createElement("span");
  span.className = `badge ${String(text).replace(/[^a-z]/g, "")}`;
  span.textContent = text;
  return span;
}

// --- pools, agents, queue ------------------------------------------------------------------

const agentNames = new Map(); // agent id -> name, for the events table

async function refreshFleet() {
  const [pools, agents] = await Promise.all([api("/v1/pools"), api("/v1/agents")]);
  for (const a of agents) agentNames.set(a.id, a.name);
  fill("pools", pools.map((p) => row([
    p.name, `${p.min}–${p.max === null ? "∞" : p.max}`, p.metrics.agents, p.metrics.ready,
    p.metrics.busy, `${p.metrics.in_flight} / ${p.metrics.capacity}`, p.metrics.queued,
    seconds(p.metrics.oldest_wait),
  ])), "No pools.");
  fill("agents", agents.map((a) => {
    const load = document.createElement("meter");
    load.min = 0;
    load.max = 1;
    load.value = Math.min(Math.max(a.load, 0), 1);
    load.title = `${a.in_flight} of ${a.capacity} slots`;
    const loadCell = cell(load);
    loadCell.append(` ${a.in_flight} / ${a.capacity}`);
    return row([a.name, a.pool ?? "–", cell(badge(a.state)), cell(badge(a.health)), loadCell,
      a.capabilities.join(", ")]);
  }), "No agents.");
}

async function countWaiting(state) {
  const page = await api(`/v1/tasks?state=${state}&limit=${QUEUE_LIMIT}`);
  const counts = Object.fromEntries(PRIORITIES.map((p) => [p, 0]));
  const reasons = new Map(); // why tasks nothing can take wait -> how many
  for (const task of page.items) {
    counts[task.priority] = (counts[task.priority] ?? 0) + 1;
    if (task.waiting) reasons.set(task.waiting, (reasons.get(task.waiting) ?? 0) + 1);
  }
  return { counts, reasons, more: page.next !== null };
}

async function refreshQueue() {
  const [queued, pending] = await Promise.all([countWaiting("queued"), countWaiting("pending")]);
  const shown = (found, p) => `${found.counts[p]}${found.more ? "+" : ""}`;
  fill("queue", PRIORITIES.map((p) => row([p, shown(queued, p), shown(pending, p)])), "");
  const reasons = [...queued.reasons].sort((a, b) => b[1] - a[1]);
  $("waiting").replaceChildren(...reasons.map(([reason, n]) => {
    const li = document.createElement("li");
    li.textContent = `${n} ${n === 1 ? "task waits" : "tasks wait"}: ${reason}`;
    return li;
  }));
}

async function poll(refresh, every) {
  for (;;) {
    try {
      if (!needToken) await refresh();
    } catch (err) {
      sayError(err);
    }
    await sleep(every);
  }
}

// --- live events ---------------------------------------------------------------------------

const arrived = []; // events not yet drawn
const submitted = new Map(); // task id -> time of its task.pending event (first attempt)
const finished = []; // [time, latency or null] of task ends in the last WINDOW seconds
const recent = new Map(); // task id -> its row in the recent tasks table
let lastSeq = null;
let clockSkew = 0; // server time minus this browser's time, in seconds
let drawing = null; // the timer of the next draw
let detailsWanted = false; // rows were added: fill in their details

function take(event) {
  lastSeq = event.seq ?? lastSeq;
  clockSkew = event.time - Date.now() / 1000;
  const state = event.type.startsWith("task.") ? event.type.slice(5) : null;
  if (state === "pending" && !submitted.has(event.task_id)) {
    submitted.set(event.task_id, event.time);
    if (submitted.size > 10000) submitted.delete(submitted.keys().next().value);
  } else if (TERMINAL.has(state)) {
    const start = submitted.get(event.task_id);
    submitted.delete(event.task_id);
    finished.push([event.time, start === undefined ? null : event.time - start]);
  }
  arrived.push(event);
  if (arrived.length > MAX_EVENTS) arrived.splice(0, arrived.length - MAX_EVENTS);
  drawing ??= setTimeout(draw, 250);
}

function draw() {
  drawing = null;
  const events = arrived.splice(0).reverse();
  const body = $("events").tBodies[0];
  body.querySelector("td.empty")?.parentElement.remove();
  body.prepend(...events.map((e) => row([
    e.seq ?? "", clock(e.time), e.type, e.task_id ?? agentNames.get(e.agent_id) ?? e.agent_id ?? "",
    brief(e.data),
  ])));
  while (body.rows.length > MAX_EVENTS) body.lastElementChild.remove();
  const ends = events.filter((e) => e.type.startsWith("task.") && TERMINAL.has(e.type.slice(5)));
  addRecent(ends.slice(0, MAX_TASKS));
}

function addRecent(ends) {
  const body = $("tasks").tBodies[0];
  body.querySelector("td.empty")?.parentElement.remove();
  const rows = ends.map((e) => {
    const tr = row([clock(e.time), e.task_id, "…", cell(badge(e.type.slice(5))),
      e.data.attempts ?? "", "…", brief(e.data.error ?? "")]);
    recent.get(e.task_id)?.remove();
    recent.set(e.task_id, tr);
    tr.dataset.task = e.task_id;
    return tr;
  });
  body.prepend(...rows);
  while (body.rows.length > MAX_TASKS) {
    recent.delete(body.lastElementChild.dataset.task);
    body.lastElementChild.remove();
  }
  detailsWanted = true;
}

// Fill in kind, latency and value of the rows shown, newest first, a few records at a time:
// the work is bounded by the table's size, however many tasks finish.
async function fillDetails() {
  for (;;) {
    const missing = detailsWanted
      ? [...recent].reverse().filter(([, tr]) => !tr.dataset.filled).slice(0, 6)
      : [];
    if (missing.length === 0) {
      detailsWanted = false;
      await sleep(250);
      continue;
    }
    await Promise.all(missing.map(([id, tr]) => fillRow(id, tr)));
  }
}

async function fillRow(id, tr) {
  tr.dataset.filled = "yes";
  try {
    const task = await api(`/v1/tasks/${encodeURIComponent(id)}`);
    const end = task.times[task.state];
    tr.cells[2].textContent = task.kind;
    tr.cells[5].textContent = seconds(end === undefined ? null : end - task.submitted);
    tr.cells[6].textContent = brief(task.error ?? task.value);
  } catch (err) {
    tr.cells[2].textContent = err.status === 404 ? "(no longer kept)" : "?";
  }
}

// EventSource cannot send an Authorization header, so the stream is read with fetch; like
// EventSource it resumes with Last-Event-ID after the server ends it or the network drops.
let following = null;

async function follow() {
  following?.abort();
  const control = new AbortController();
  following = control;
  while (!control.signal.aborted) {
    const headers = authHeaders();
    if (lastSeq !== null) headers["Last-Event-ID"] = String(lastSeq);
    try {
      const response = await fetch("/v1/events", { headers, signal: control.signal });
      if (!response.ok) {
        needToken ||= response.status === 401;
        throw new ApiError(response.status, response.statusText);
      }
      say("Live.");
      await readFrames(response.body, control.signal);
      say("The event stream ended; resuming…");
    } catch (err) {
      if (control.signal.aborted) return;
      sayError(err);
      if (needToken) return; // a new token starts it again
    }
    await sleep(1000);
  }
}

async function readFrames(stream, signal) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  while (!signal.aborted) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const data = buffer.slice(0, end).split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""));
      buffer = buffer.slice(end + 2);
      if (data.length) take(JSON.parse(data.join("\n")));
    }
  }
}

// --- charts --------------------------------------------------------------------------------

function sparkline(svg, values) {
  const width = 240;
  const height = 48;
  const top = Math.max(...values, 1e-9);
  const step = width / (values.length - 1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / top) * (height - 4)).toFixed(1)}`);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points.join(" "));
  svg.replaceChildren(line);
}

// One bucket per second over the last WINDOW whole seconds (the second under way is not yet
// complete): tasks finished, and their mean latency from task.pending to their end.
function drawCharts() {
  const end = Math.floor(Date.now() / 1000 + clockSkew);
  while (finished.length && finished[0][0] < end - WINDOW) finished.shift();
  const counts = new Array(WINDOW).fill(0);
  const sums = new Array(WINDOW).fill(0);
  const timed = new Array(WINDOW).fill(0);
  for (const [time, latency] of finished) {
    const bucket = Math.floor(time) - (end - WINDOW);
    if (bucket >= WINDOW) continue;
    counts[bucket] += 1;
    if (latency !== null) {
      sums[bucket] += latency;
      timed[bucket] += 1;
    }
  }
  const means = sums.map((s, i) => (timed[i] ? s / timed[i] : 0));
  sparkline($("throughput-chart"), counts);
  sparkline($("latency-chart"), means);
  const total = (values) => values.reduce((a, b) => a + b, 0);
  const n = total(timed);
  $("throughput").textContent =
    `${(total(counts.slice(-10)) / 10).toFixed(1)} over the last 10 s, peak ${Math.max(...counts)}`;
  $("latency").textContent = n ? `${seconds(total(sums) / n)}, peak ${seconds(Math.max(...means))}` : "–";
}

// --- start ---------------------------------------------------------------------------------

function start() {
  const input = $("token");
  input.value = sessionStorage.getItem(TOKEN_KEY) ?? "";
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
    else sessionStorage.removeItem(TOKEN_KEY);
    needToken = false;
    say("Connecting…");
    follow();
  });
  fill("tasks", [], "No task has finished since this page opened.");
  fill("events", [], "Waiting for events…");
  poll(refreshFleet, 2000);
  poll(refreshQueue, 5000);
  setInterval(drawCharts, 1000);
  drawCharts();
  fillDetails();
  follow();
}

start();
