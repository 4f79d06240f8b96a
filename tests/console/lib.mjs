// lib.mjs — what the console's browser scripts share: Debian's Chromium
// driven by playwright-core (no browser download: executablePath), the
// JSON API from Node, axe-core, screenshots, and the Kafka client beside
// the browser (kafka_client.py, Debian's confluent_kafka).
//
// Configuration comes from the environment (test_console_browser.py and
// bench/broker/console.py set it):
//   CHROMIUM        the browser binary (default /usr/bin/chromium)
//   ND_ARTIFACTS    where screenshots go (created)
//   ND_PYTHON       the Python with confluent_kafka (default /usr/bin/python3)
//   ND_KAFKA_CLIENT tests/console/kafka_client.py
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");

export const ARTIFACTS = process.env.ND_ARTIFACTS || "console-artifacts";
const PYTHON = process.env.ND_PYTHON || "/usr/bin/python3";

// Headless Chromium. --no-sandbox: CI runs the suite as root, where
// Chromium refuses its sandbox.
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

// The step being run, for the failure message.
let current = "start";
export async function step(name, f) {
  current = name;
  const t0 = Date.now();
  await f();
  console.log(`ok   ${name} (${Date.now() - t0} ms)`);
}
export function currentStep() {
  return current;
}

export function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// Wait until f() (async) returns a truthy value; throws with what() when
// it never does. Polls: the pages refresh on their own timers.
export async function until(f, what, timeout_ms = 30000) {
  const end = Date.now() + timeout_ms;
  let last;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(`${what}: not so after ${timeout_ms} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// The JSON API, from Node (no cookie: for PLAINTEXT brokers), to set up
// and to check what the pages did.
export async function api(base, method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(base + path, init);
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  return { status: r.status, json, text };
}

// A full-page screenshot under ARTIFACTS/NAME.png.
export async function shot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name + ".png"), fullPage: true });
}

// axe-core on the page as it is: every violation of impact serious or
// critical goes into `found` ("page: rule (impact): help — nodes").
export async function axe(page, name, found) {
  await page.addScriptTag({ path: AXE });
  const r = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const res = await window.axe.run(document, { resultTypes: ["violations"] });
    return res.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
    }));
  });
  for (const v of r)
    if (v.impact === "serious" || v.impact === "critical")
      found.push(`${name}: ${v.id} (${v.impact}): ${v.help} — ${v.nodes.join("; ")}`);
  return r;
}

// kafka_client.py ARGS..., to its end: its stdout lines.
export function kafka(...args) {
  const r = spawnSync(PYTHON, [process.env.ND_KAFKA_CLIENT, ...args], {
    encoding: "utf8",
    timeout: 120000,
  });
  if (r.status !== 0)
    throw new Error(`kafka_client.py ${args.join(" ")}: exit ${r.status}: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l);
}

// kafka_client.py ARGS... left running (the consumer): .lines is what it
// printed so far; stop() sends SIGTERM and waits for its exit.
export function kafkaBackground(...args) {
  const p = spawn(PYTHON, [process.env.ND_KAFKA_CLIENT, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out = { proc: p, lines: [], err: "" };
  let buf = "";
  p.stdout.on("data", (d) => {
    buf += d;
    const parts = buf.split("\n");
    buf = parts.pop();
    out.lines.push(...parts);
  });
  p.stderr.on("data", (d) => (out.err += d));
  const exited = new Promise((r) => p.on("exit", (code) => r(code)));
  out.stop = async () => {
    if (p.exitCode === null) p.kill("SIGTERM");
    const code = await exited;
    if (code !== 0) throw new Error(`kafka_client.py ${args.join(" ")}: exit ${code}: ${out.err}`);
  };
  process.on("exit", () => p.exitCode === null && p.kill("SIGKILL"));
  return out;
}
