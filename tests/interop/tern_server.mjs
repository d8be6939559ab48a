// Spawns and controls a real tern server for the Node interop tests and the browser tests.
//
// Library:   import { TernServer, ternBin } from "./tern_server.mjs";
// Command:   node tern_server.mjs seed-cert DIR
//   starts tern once on a throwaway data dir so that it generates its self-signed
//   certificate for the vhost "localhost", then copies localhost.crt/.key to DIR.
//   Node reads NODE_EXTRA_CA_CERTS only at start-up, so the tests are run as
//   NODE_EXTRA_CA_CERTS=DIR/localhost.crt node --test ..., and every test server
//   is seeded with that pair (tern reuses an existing <data_dir>/certs/<domain>.crt).
//
// By default the server has one vhost, "localhost" (self-signed certificate, open
// registration), and listeners on ephemeral 127.0.0.1 ports of the kinds c2s (STARTTLS),
// http (BOSH at /http-bind, WebSocket at /xmpp-websocket), ws and wss (RFC 7395, at / and
// /xmpp-websocket). Options change the vhost (e.g. given cert/key files), add
// [[certificates]] and other settings; start() waits until tern has logged every
// listener and records their ports (this.ports, by kind).

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const DOMAIN = "localhost";
const HERE = path.dirname(fileURLToPath(import.meta.url));
const START_TIMEOUT_MS = 30_000;
/** The BOSH path (XEP-0124/0206) on the http listeners. */
export const BOSH_PATH = "/http-bind";
/** The WebSocket path (RFC 7395) on the http listeners (ws/wss listeners also serve `/`). */
export const WS_PATH = "/xmpp-websocket";
/** Listener kinds as tern's config names them, and as its "listening kind=..." log line does. */
const KIND_LOG_NAMES = { c2s: "C2s", c2s_tls: "C2sTls", http: "Http", https: "Https", ws: "Ws", wss: "Wss" };
export const DEFAULT_LISTENERS = ["c2s", "http", "ws", "wss"];

export function ternBin() {
  if (process.env.TERN_BIN) return process.env.TERN_BIN;
  const r = spawnSync("git", ["rev-parse", "--show-toplevel"], {
    cwd: HERE,
    encoding: "utf8",
    timeout: 10_000,
  });
  const top = r.status === 0 ? r.stdout.trim() : path.resolve(HERE, "..", "..");
  return path.join(top, "target", "debug", "tern");
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `key = value` lines of a TOML table; JSON's strings, numbers, booleans and arrays of them are TOML. */
const tomlPairs = (obj) =>
  Object.entries(obj)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} = ${JSON.stringify(v)}`);

export class TernServer {
  /**
   * @param {string} root  a fresh directory for the config, data dir and logs
   * @param {object} opts
   * @param {string} [opts.certDir]  a localhost.crt/.key pair to seed the self-signed vhost with
   * @param {string} [opts.domain]  the vhost (default "localhost")
   * @param {object} [opts.vhost]  the vhost's other keys (default: self_signed, open registration),
   *   e.g. {cert, key, registration}
   * @param {{domain: string, cert: string, key: string}[]} [opts.certificates]  [[certificates]]
   * @param {string[]} [opts.listeners]  listener kinds, each on 127.0.0.1:0 (default {@link DEFAULT_LISTENERS})
   * @param {string} [opts.logLevel]  log_level (default "info")
   * @param {Record<string, object>} [opts.sections]  more tables, e.g. {http: {cors_origins: [...]}}
   */
  constructor(
    root,
    {
      certDir,
      domain = DOMAIN,
      vhost = { self_signed: true, registration: "open" },
      certificates = [],
      listeners = DEFAULT_LISTENERS,
      logLevel = "info",
      sections = {},
    } = {},
  ) {
    this.bin = ternBin();
    try {
      fs.accessSync(this.bin, fs.constants.X_OK);
    } catch {
      throw new Error(
        `tern binary not found or not executable: ${this.bin} (build it with \`cargo build -p tern\` or set TERN_BIN)`,
      );
    }
    for (const k of listeners) if (!KIND_LOG_NAMES[k]) throw new Error(`unknown listener kind ${k}`);
    this.root = root;
    this.domain = domain;
    this.selfSigned = Boolean(vhost.self_signed);
    this.listenerKinds = listeners;
    this.dataDir = path.join(root, "data");
    this.configPath = path.join(root, "tern.toml");
    this.proc = null;
    this.exited = null;
    /** Ports of the running server's listeners, by kind ("c2s", "http", "ws", "wss", ...). */
    this.ports = {};
    this.runs = 0;
    this.logs = [];
    fs.mkdirSync(this.dataDir, { recursive: true });
    if (certDir) {
      const certs = path.join(this.dataDir, "certs");
      fs.mkdirSync(certs, { recursive: true });
      for (const f of [`${domain}.crt`, `${domain}.key`]) {
        fs.copyFileSync(path.join(certDir, f), path.join(certs, f));
      }
    }
    const lines = [...tomlPairs({ log_level: logLevel, data_dir: this.dataDir }), ""];
    for (const kind of listeners) lines.push("[[listeners]]", ...tomlPairs({ kind, address: "127.0.0.1:0" }), "");
    lines.push("[[vhosts]]", ...tomlPairs({ domain, ...vhost }), "");
    for (const c of certificates) lines.push("[[certificates]]", ...tomlPairs(c), "");
    for (const [name, table] of Object.entries(sections)) lines.push(`[${name}]`, ...tomlPairs(table), "");
    fs.writeFileSync(this.configPath, lines.join("\n"));
  }

  /** The vhost's self-signed certificate (generated by tern, or seeded). */
  get cert() {
    return path.join(this.dataDir, "certs", `${this.domain}.crt`);
  }

  /** Port of the c2s (STARTTLS) listener. */
  get port() {
    return this.ports.c2s ?? null;
  }

  /** Port of the `http` listener (BOSH at {@link BOSH_PATH}, WebSocket at {@link WS_PATH}). */
  get httpPort() {
    return this.ports.http ?? null;
  }

  /** `tern user add USER@DOMAIN --password PW`; returns the bare JID. */
  addUser(user, password) {
    const jid = `${user}@${this.domain}`;
    const r = spawnSync(
      this.bin,
      ["user", "add", jid, "--password", password, "--config", this.configPath],
      { encoding: "utf8", timeout: 60_000 },
    );
    if (r.status !== 0 || !r.stdout.includes(jid)) {
      throw new Error(`tern user add ${jid} failed (${r.status}): ${r.stdout}\n${r.stderr}`);
    }
    return jid;
  }

  /** The BOSH URL of the http listener (once started). */
  get boshUrl() {
    return `http://127.0.0.1:${this.httpPort}${BOSH_PATH}`;
  }

  /**
   * A WebSocket URL (once started): `kind` "ws" or "wss" (the listeners of that kind, which
   * serve `/` and {@link WS_PATH}) or "http" (the http listener, at {@link WS_PATH} only).
   * `host` defaults to 127.0.0.1 for plain connections and to the vhost for wss (the name its
   * certificate is for; that name must resolve to the loopback address).
   */
  wsUrl(kind = "ws", { host, path: p = WS_PATH } = {}) {
    const port = this.ports[kind];
    if (!port) throw new Error(`no running ${kind} listener`);
    const scheme = kind === "wss" || kind === "https" ? "wss" : "ws";
    return `${scheme}://${host ?? (scheme === "wss" ? this.domain : "127.0.0.1")}:${port}${p}`;
  }

  /** Start `tern serve` and wait until it has logged each listener; returns the c2s port (if any). */
  async start() {
    if (this.proc) throw new Error("server already running");
    this.runs += 1;
    const log = path.join(this.root, `server-${this.runs}.log`);
    this.logs.push(log);
    const fd = fs.openSync(log, "w");
    const env = { ...process.env };
    delete env.RUST_LOG; // the config's log_level applies (it must let the "listening" lines through)
    const proc = spawn(this.bin, ["serve", "--config", this.configPath], {
      stdio: ["ignore", fd, fd],
      env,
    });
    fs.closeSync(fd);
    this.proc = proc;
    // Never leave a server behind, even if the test process exits abruptly.
    const reap = () => proc.kill("SIGKILL");
    process.once("exit", reap);
    proc.once("exit", () => process.removeListener("exit", reap));
    this.exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
    let exitInfo = null;
    this.exited.then((e) => (exitInfo = e));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const text = fs.readFileSync(log, "utf8");
      const ports = {};
      for (const kind of this.listenerKinds) {
        const m = new RegExp(`listening kind=${KIND_LOG_NAMES[kind]} addr=127\\.0\\.0\\.1:(\\d+)`).exec(text);
        if (m) ports[kind] = Number(m[1]);
      }
      if (Object.keys(ports).length === this.listenerKinds.length) {
        this.ports = ports;
        if (this.selfSigned && !fs.existsSync(this.cert)) throw new Error(`no certificate at ${this.cert}`);
        return this.port;
      }
      if (exitInfo) {
        this.proc = null;
        throw new Error(`tern exited (${JSON.stringify(exitInfo)}) before listening:\n${this.logText()}`);
      }
      await sleep(50);
    }
    throw new Error(
      `tern did not log its listeners (${this.listenerKinds}) within ${START_TIMEOUT_MS} ms:\n${this.logText()}`,
    );
  }

  /** Send `signal` and wait for the exit; returns {code, signal}. */
  async stop(signal = "SIGTERM", timeoutMs = 15_000) {
    if (!this.proc) throw new Error("server not running");
    const proc = this.proc;
    proc.kill(signal);
    let timer;
    const result = await Promise.race([
      this.exited,
      new Promise((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!result) {
      proc.kill("SIGKILL");
      await this.exited;
      this.proc = null;
      throw new Error(`tern did not exit within ${timeoutMs} ms of ${signal}:\n${this.logText()}`);
    }
    this.proc = null;
    this.ports = {};
    return result;
  }

  /** Kill without waiting for anything (test clean-up). */
  async kill() {
    if (this.proc) await this.stop("SIGKILL");
  }

  /** The log of the current (or last) run so far. */
  log() {
    const p = this.logs.at(-1);
    return p && fs.existsSync(p) ? fs.readFileSync(p, "utf8") : "";
  }

  logText() {
    return this.logs
      .filter((p) => fs.existsSync(p))
      .map((p) => `--- tern ${path.basename(p)} ---\n${fs.readFileSync(p, "utf8")}`)
      .join("\n");
  }
}

/** Let tern generate its self-signed localhost certificate; copy the pair to `dir`. */
export async function seedCert(dir) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tern-seed-"));
  try {
    const server = new TernServer(root, { listeners: ["c2s"] });
    await server.start();
    const { code, signal } = await server.stop("SIGTERM");
    if (code !== 0) throw new Error(`tern exited with ${code ?? signal} on SIGTERM:\n${server.logText()}`);
    fs.mkdirSync(dir, { recursive: true });
    for (const f of [`${DOMAIN}.crt`, `${DOMAIN}.key`]) {
      fs.copyFileSync(path.join(server.dataDir, "certs", f), path.join(dir, f));
    }
    return path.join(dir, `${DOMAIN}.crt`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [cmd, dir] = process.argv.slice(2);
  if (cmd !== "seed-cert" || !dir) {
    console.error("usage: node tern_server.mjs seed-cert DIR");
    process.exit(2);
  }
  seedCert(path.resolve(dir)).then(
    (cert) => console.log(cert),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
