// Harness for the browser tests: a real tern server (the interop suite's TernServer, shared),
// the static site that serves the test page from another origin, Debian's Chromium driven by
// playwright-core, scenarios (a server, a site and a browser; steps as subtests), and a test
// PKI (a CA and leaf certificates made with the openssl CLI) that Chromium trusts through an
// NSS database in a temporary HOME.

import { test } from "node:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

import { TernServer as SharedTernServer } from "../interop/tern_server.mjs";

export { BOSH_PATH, WS_PATH } from "../interop/tern_server.mjs";
const HERE = path.dirname(fileURLToPath(import.meta.url));

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

/**
 * The interop suite's TernServer with the browser tests' defaults: only an `http` listener,
 * the vhost "localhost" with a self-signed certificate (registration closed), and tern::http
 * at debug (it logs each HTTP connection that a client closed mid-request: the BOSH reload
 * test waits for that when a reload cancels a held request). `corsOrigins` sets
 * `[http] cors_origins` (omitted: the default, any origin); other options are the shared
 * TernServer's (domain, vhost, certificates, listeners, logLevel, sections).
 */
export class TernServer extends SharedTernServer {
  constructor(root, { corsOrigins, sections, ...opts } = {}) {
    super(root, {
      listeners: ["http"],
      logLevel: "info,tern::http=debug",
      vhost: { self_signed: true },
      ...opts,
      sections: { ...(corsOrigins && { http: { cors_origins: corsOrigins } }), ...sections },
    });
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
 * The static site of the test page, at http://localhost:PORT (tern's endpoints are at
 * 127.0.0.1:OTHERPORT or another host name: every BOSH request and WebSocket is cross-origin).
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

  /** The test page, whose strophe.js connects to `service` (a BOSH URL, or a ws:// or wss:// URL). */
  pageUrl(service) {
    return `${this.origin}/index.html?service=${encodeURIComponent(service)}`;
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

// ----------------------------------------------------------------- a test PKI

/** Run a command; throws with its output when it fails. */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000, ...opts });
  if (r.error?.code === "ENOENT") throw new Error(`${cmd} not found (tests/browser/run.sh installs it)`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.error}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/**
 * A throwaway CA and, for each of `names`, a leaf certificate signed by it (SAN DNS:<name>,
 * serverAuth), made with the openssl CLI in `dir`: ECDSA P-256 keys, valid for two days.
 * Returns {ca, caKey, leaves: {name: {cert, key}}} (PEM file paths).
 */
export function makeTestPki(dir, names) {
  fs.mkdirSync(dir, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const ca = path.join(dir, "ca.pem");
  const caKey = path.join(dir, "ca.key");
  const tag = `${process.pid}-${Date.now()}`;
  run("openssl", [
    "req", "-x509", ...ec, "-keyout", caKey, "-out", ca, "-days", "2", "-subj", `/O=tern tests/CN=tern test CA ${tag}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const leaves = {};
  for (const name of names) {
    const key = path.join(dir, `${name}.key`);
    const csr = path.join(dir, `${name}.csr`);
    const cert = path.join(dir, `${name}.crt`);
    const ext = path.join(dir, `${name}.ext`);
    fs.writeFileSync(
      ext,
      [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth",
        `subjectAltName=DNS:${name}`,
        "",
      ].join("\n"),
    );
    run("openssl", ["req", "-new", ...ec, "-keyout", key, "-out", csr, "-subj", `/CN=${name}`]);
    run("openssl", [
      "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-set_serial", `0x${Date.now().toString(16)}${names.indexOf(name)}`,
      "-days", "2", "-extfile", ext, "-out", cert,
    ]);
    leaves[name] = { cert, key };
  }
  return { ca, caKey, leaves };
}

/**
 * Make `home` a HOME whose NSS database ($HOME/.pki/nssdb, the one Chromium on Linux reads
 * user-trusted certificates from) trusts the CA in `caPem` for TLS servers (trust "C,,").
 * Returns the database listing (certutil -L).
 */
export function trustCaInNssDb(home, caPem, nickname = "tern-test-ca") {
  const db = path.join(home, ".pki", "nssdb");
  fs.mkdirSync(db, { recursive: true });
  run("certutil", ["-d", `sql:${db}`, "-N", "--empty-password"]);
  run("certutil", ["-d", `sql:${db}`, "-A", "-n", nickname, "-t", "C,,", "-i", caPem]);
  return run("certutil", ["-d", `sql:${db}`, "-L"]);
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

/**
 * Debian's Chromium, headless; never a browser that playwright would download.
 * `home`: the HOME it runs with (where it finds the NSS database $HOME/.pki/nssdb whose
 * trusted CAs it accepts, see {@link trustCaInNssDb}); `args`: more command line flags.
 */
export async function launchChromium({ home, args = [] } = {}) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...args],
    timeout: 60_000,
    ...(home && { env: { ...process.env, HOME: home } }),
  });
}

/**
 * Network events of one page as Chromium's DevTools protocol reports them: requests (with
 * CORS preflights, type "Preflight"), their responses (with the TLS details: certificate
 * subject, SANs, issuer) and failures (cancellations, CORS errors), and WebSockets: creation,
 * handshake response, errors (e.g. a certificate error) and close. Survives the page's reloads.
 */
export async function watchNetwork(page) {
  const cdp = await page.context().newCDPSession(page);
  const events = [];
  for (const ev of [
    "Network.requestWillBeSent",
    "Network.responseReceived",
    "Network.loadingFailed",
    "Network.webSocketCreated",
    "Network.webSocketHandshakeResponseReceived",
    "Network.webSocketFrameError",
    "Network.webSocketClosed",
  ]) {
    cdp.on(ev, (params) => events.push({ ev, at: Date.now(), ...params }));
  }
  await cdp.send("Network.enable");
  return { cdp, events };
}

// ----------------------------------------------------------------- scenarios

export const STEP = 20_000;
const SCENARIO_TIMEOUT = 240_000;

/**
 * A scenario: its own tern server, site and browser, and `steps` ([name, fn(s)] run in order
 * as subtests sharing the state `s`). The server log and the browser console are attached to
 * a failing step; the steps after it are skipped, unless it is marked {independent: true}
 * (a check that later steps do not build on).
 * `setup`: the TernServer options, or `(s) => options`, called with s.root (the scenario's
 * temporary directory) and s.site; it may set s.launch (the {@link launchChromium} options).
 */
export function scenario(name, setup, steps) {
  test(name, { timeout: SCENARIO_TIMEOUT }, async (t) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "tern-browser-"));
    const s = { root, console: [] };
    let browser;
    let failed = null;
    try {
      s.site = await new Site().start();
      s.server = new TernServer(root, typeof setup === "function" ? setup(s) : setup);
      s.browser = () => (browser ??= launchChromium(s.launch));
      for (const [stepName, fn, { independent = false } = {}] of steps) {
        await t.test(stepName, async (st) => {
          if (failed) return st.skip(`skipped: step "${failed}" failed`);
          try {
            await fn(s);
          } catch (err) {
            if (!independent) failed = stepName;
            const tail = s.console.slice(-60).join("\n");
            const logs = [s.server.logText(), tail ? `--- browser console (last 60 lines) ---\n${tail}` : ""];
            throw new Error(`${err?.stack ?? err}\n\n${logs.join("\n")}`, { cause: err });
          }
        });
      }
    } finally {
      await (await browser?.catch(() => null))?.close().catch(() => {});
      await s.server?.kill();
      await s.site?.stop();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}

/**
 * A user's page in its own browser context (own sessionStorage and connection pool), in the
 * scenario's browser or in `browser`.
 */
export async function openPage(s, who, url, browser) {
  const context = await (browser ?? (await s.browser())).newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(STEP);
  page.on("console", (m) => s.console.push(`[${who}] ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => s.console.push(`[${who}] pageerror: ${e}`));
  const net = await watchNetwork(page);
  await page.goto(url);
  return { page, net, who };
}

/** Wait in the page until `pred(ternLog, arg)` is truthy; returns its value. */
export async function waitInPage(p, what, pred, arg, timeout = STEP) {
  try {
    const h = await p.page.waitForFunction(
      ([src, a]) => new Function("log", "arg", `return (${src})(log, arg);`)(globalThis.ternLog, a),
      [pred.toString(), arg],
      { timeout, polling: 50 },
    );
    return await h.jsonValue();
  } catch (e) {
    const log = await p.page.evaluate(() => globalThis.ternLog).catch(() => null);
    throw new Error(`${p.who}: ${what}: ${e.message}\npage log: ${JSON.stringify(log)}`);
  }
}

export const gotMessage = (log, { from, body }) =>
  log.messages.find((m) => m.body === body && m.from.split("/")[0] === from) ?? false;
export const gotPresence = (log, { from, type }) =>
  log.presences.find((p) => p.from.split("/")[0] === from && p.type === type) ?? false;
export const header = (res, name) => Object.entries(res.headers).find(([k]) => k.toLowerCase() === name)?.[1];
