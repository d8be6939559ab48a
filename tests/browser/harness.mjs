// Harness for the browser tests: a real tern server (config, users, log), the static site
// that serves the test page from another origin, and Debian's Chromium driven by
// playwright-core. Adapted from tests/interop/tern_server.mjs (copied, not imported: that
// file belongs to the interop suite and changes with it).

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

export const DOMAIN = "localhost";
export const BOSH_PATH = "/http-bind";
const HERE = path.dirname(fileURLToPath(import.meta.url));
const START_TIMEOUT_MS = 30_000;
const HTTP_LISTEN_RE = /listening kind=Http addr=127\.0\.0\.1:(\d+)/;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `fn` until it returns a truthy value; throws `what` (or what() returns) after `ms`. */
export async function until(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms: ${typeof what === "function" ? what() : what}`);
    }
    await sleep(50);
  }
}

// The timeout wrapper is shared with the Node interop tests.
export { withTimeout } from "../interop/inbox.mjs";

// ----------------------------------------------------------------- tern

export function ternBin() {
  if (process.env.TERN_BIN) return process.env.TERN_BIN;
  const r = spawnSync("git", ["rev-parse", "--show-toplevel"], { cwd: HERE, encoding: "utf8", timeout: 10_000 });
  const top = r.status === 0 ? r.stdout.trim() : path.resolve(HERE, "..", "..");
  return path.join(top, "target", "debug", "tern");
}

export class TernServer {
  /**
   * @param {string} root  a fresh directory for the config, data dir and log
   * @param {{corsOrigins?: string[]}} opts  corsOrigins: `[http] cors_origins` (omitted: the default, any origin)
   */
  constructor(root, { corsOrigins } = {}) {
    this.bin = ternBin();
    try {
      fs.accessSync(this.bin, fs.constants.X_OK);
    } catch {
      throw new Error(
        `tern binary not found or not executable: ${this.bin} (build it with \`cargo build -p tern\` or set TERN_BIN)`,
      );
    }
    this.root = root;
    this.dataDir = path.join(root, "data");
    this.configPath = path.join(root, "tern.toml");
    this.logPath = path.join(root, "server.log");
    this.proc = null;
    this.httpPort = null;
    fs.mkdirSync(this.dataDir, { recursive: true });
    const lines = [
      // tern::http at debug: it logs each HTTP connection that a client closed mid-request
      // (the test waits for that when a reload cancels a held BOSH request).
      'log_level = "info,tern::http=debug"',
      `data_dir = ${JSON.stringify(this.dataDir)}`,
      "",
      "[[listeners]]",
      'kind = "http"',
      'address = "127.0.0.1:0"',
      "",
      "[[vhosts]]",
      `domain = "${DOMAIN}"`,
      "self_signed = true",
      "",
    ];
    if (corsOrigins) lines.push("[http]", `cors_origins = ${JSON.stringify(corsOrigins)}`, "");
    fs.writeFileSync(this.configPath, lines.join("\n"));
  }

  /** `tern user add USER@localhost --password PW`; returns the bare JID. */
  addUser(user, password) {
    const jid = `${user}@${DOMAIN}`;
    const r = spawnSync(this.bin, ["user", "add", jid, "--password", password, "--config", this.configPath], {
      encoding: "utf8",
      timeout: 60_000,
    });
    if (r.status !== 0 || !r.stdout.includes(jid)) {
      throw new Error(`tern user add ${jid} failed (${r.status}): ${r.stdout}\n${r.stderr}`);
    }
    return jid;
  }

  get boshUrl() {
    return `http://127.0.0.1:${this.httpPort}${BOSH_PATH}`;
  }

  /** Start `tern serve` and wait for the http listener. */
  async start() {
    if (this.proc) throw new Error("server already running");
    const fd = fs.openSync(this.logPath, "w");
    const env = { ...process.env };
    delete env.RUST_LOG; // the config's log_level applies
    const proc = spawn(this.bin, ["serve", "--config", this.configPath], { stdio: ["ignore", fd, fd], env });
    fs.closeSync(fd);
    this.proc = proc;
    const reap = () => proc.kill("SIGKILL");
    process.once("exit", reap);
    let exitInfo = null;
    this.exited = new Promise((resolve) =>
      proc.once("exit", (code, signal) => {
        process.removeListener("exit", reap);
        exitInfo = { code, signal };
        resolve(exitInfo);
      }),
    );
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const h = HTTP_LISTEN_RE.exec(fs.readFileSync(this.logPath, "utf8"));
      if (h) {
        this.httpPort = Number(h[1]);
        return this.httpPort;
      }
      if (exitInfo) {
        this.proc = null;
        throw new Error(`tern exited (${JSON.stringify(exitInfo)}) before listening:\n${this.logText()}`);
      }
      await sleep(50);
    }
    throw new Error(`tern did not log its http listener within ${START_TIMEOUT_MS} ms:\n${this.logText()}`);
  }

  async kill() {
    if (!this.proc) return;
    this.proc.kill("SIGKILL");
    await this.exited;
    this.proc = null;
  }

  /** The server log so far. */
  log() {
    return fs.existsSync(this.logPath) ? fs.readFileSync(this.logPath, "utf8") : "";
  }

  logText() {
    return fs.existsSync(this.logPath) ? `--- tern server log ---\n${fs.readFileSync(this.logPath, "utf8")}` : "";
  }
}

// ----------------------------------------------------------------- the test page's site

const STROPHE = path.join(HERE, "node_modules", "strophe.js", "dist", "strophe.umd.min.js");
const FILES = {
  "/index.html": [path.join(HERE, "page", "index.html"), "text/html; charset=utf-8"],
  "/app.js": [path.join(HERE, "page", "app.js"), "text/javascript; charset=utf-8"],
  "/strophe.umd.min.js": [STROPHE, "text/javascript; charset=utf-8"],
};

/**
 * The static site of the test page, at http://localhost:PORT (the BOSH endpoint is at
 * 127.0.0.1:OTHERPORT: another host and port, so every BOSH request is cross-origin).
 * `hold(path)` holds the next request for `path` until released (to act during a reload).
 */
export class Site {
  requests = [];
  gates = new Map();

  async start() {
    this.server = http.createServer((req, res) => this.serve(req, res));
    this.server.keepAliveTimeout = 1000;
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", resolve);
    });
    this.port = this.server.address().port;
    return this;
  }

  get origin() {
    return `http://localhost:${this.port}`;
  }

  pageUrl(boshUrl) {
    return `${this.origin}/index.html?bosh=${encodeURIComponent(boshUrl)}`;
  }

  async serve(req, res) {
    const p = new URL(req.url, "http://x").pathname;
    this.requests.push({ path: p, at: Date.now() });
    const gate = this.gates.get(p);
    if (gate) {
      this.gates.delete(p);
      gate.arrive();
      await gate.released;
    }
    const f = FILES[p];
    if (req.method !== "GET" || !f) {
      res.writeHead(p === "/favicon.ico" ? 204 : 404, { "Cache-Control": "no-store" }).end();
      return;
    }
    res.writeHead(200, { "Content-Type": f[1], "Cache-Control": "no-store" });
    res.end(fs.readFileSync(f[0]));
  }

  /** Hold the next GET of `p`: returns {arrived: Promise, release()}. */
  hold(p) {
    let arrive, release;
    const arrived = new Promise((r) => (arrive = r));
    const released = new Promise((r) => (release = r));
    this.gates.set(p, { arrive, released });
    return { arrived, release };
  }

  async stop() {
    for (const g of this.gates.values()) g.arrive();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

// ----------------------------------------------------------------- Chromium

export const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
// playwright adds --headless itself (headless: true) and a fresh temporary --user-data-dir
// (chromium.launch), which it removes on close.
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Debian's Chromium, headless; never a browser that playwright would download. */
export async function launchChromium() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/**
 * Network events of one page as Chromium's DevTools protocol reports them: requests (with
 * CORS preflights, type "Preflight"), their responses and failures (cancellations, CORS
 * errors). Survives the page's reloads.
 */
export async function watchNetwork(page) {
  const cdp = await page.context().newCDPSession(page);
  const events = [];
  for (const ev of ["Network.requestWillBeSent", "Network.responseReceived", "Network.loadingFailed"]) {
    cdp.on(ev, (params) => events.push({ ev, at: Date.now(), ...params }));
  }
  await cdp.send("Network.enable");
  return { cdp, events };
}
