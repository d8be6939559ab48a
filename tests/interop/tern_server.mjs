// Spawns and controls a real tern server for the interop tests.
//
// Library:   import { TernServer, ternBin } from "./tern_server.mjs";
// Command:   node tern_server.mjs seed-cert DIR
//   starts tern once on a throwaway data dir so that it generates its self-signed
//   certificate for the vhost "localhost", then copies localhost.crt/.key to DIR.
//   Node reads NODE_EXTRA_CA_CERTS only at start-up, so the tests are run as
//   NODE_EXTRA_CA_CERTS=DIR/localhost.crt node --test ..., and every test server
//   is seeded with that pair (tern reuses an existing <data_dir>/certs/<domain>.crt).

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const DOMAIN = "localhost";
const HERE = path.dirname(fileURLToPath(import.meta.url));
const START_TIMEOUT_MS = 30_000;
const LISTEN_RE = /listening kind=C2s addr=127\.0\.0\.1:(\d+)/;
const HTTP_LISTEN_RE = /listening kind=Http addr=127\.0\.0\.1:(\d+)/;
/** The BOSH path (XEP-0124/0206) on the http listener. */
export const BOSH_PATH = "/http-bind";

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

export class TernServer {
  /**
   * @param {string} root  a fresh directory for the config, data dir and logs
   * @param {{certDir?: string}} opts  certDir: a localhost.crt/.key pair to serve
   */
  constructor(root, { certDir } = {}) {
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
    this.proc = null;
    this.exited = null;
    this.port = null;
    /** Port of the `http` listener (BOSH at {@link BOSH_PATH}). */
    this.httpPort = null;
    this.runs = 0;
    this.logs = [];
    fs.mkdirSync(this.dataDir, { recursive: true });
    if (certDir) {
      const certs = path.join(this.dataDir, "certs");
      fs.mkdirSync(certs, { recursive: true });
      for (const f of [`${DOMAIN}.crt`, `${DOMAIN}.key`]) {
        fs.copyFileSync(path.join(certDir, f), path.join(certs, f));
      }
    }
    fs.writeFileSync(
      this.configPath,
      [
        'log_level = "info"',
        `data_dir = ${JSON.stringify(this.dataDir)}`,
        "",
        "[[listeners]]",
        'kind = "c2s"',
        'address = "127.0.0.1:0"',
        "",
        "[[listeners]]",
        'kind = "http"',
        'address = "127.0.0.1:0"',
        "",
        "[[vhosts]]",
        `domain = "${DOMAIN}"`,
        "self_signed = true",
        'registration = "open"',
        "",
      ].join("\n"),
    );
  }

  get cert() {
    return path.join(this.dataDir, "certs", `${DOMAIN}.crt`);
  }

  /** `tern user add USER@localhost --password PW`; returns the bare JID. */
  addUser(user, password) {
    const jid = `${user}@${DOMAIN}`;
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

  /** Start `tern serve` and wait for its c2s and http listeners; returns the c2s port. */
  async start() {
    if (this.proc) throw new Error("server already running");
    this.runs += 1;
    const log = path.join(this.root, `server-${this.runs}.log`);
    this.logs.push(log);
    const fd = fs.openSync(log, "w");
    const proc = spawn(this.bin, ["serve", "--config", this.configPath], {
      stdio: ["ignore", fd, fd],
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
      const m = LISTEN_RE.exec(text);
      const h = HTTP_LISTEN_RE.exec(text);
      if (m && h) {
        this.port = Number(m[1]);
        this.httpPort = Number(h[1]);
        if (!fs.existsSync(this.cert)) throw new Error(`no certificate at ${this.cert}`);
        return this.port;
      }
      if (exitInfo) {
        this.proc = null;
        throw new Error(`tern exited (${JSON.stringify(exitInfo)}) before listening:\n${this.logText()}`);
      }
      await sleep(50);
    }
    throw new Error(`tern did not log its c2s and http listeners within ${START_TIMEOUT_MS} ms:\n${this.logText()}`);
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
    this.port = null;
    this.httpPort = null;
    return result;
  }

  /** Kill without waiting for anything (test clean-up). */
  async kill() {
    if (this.proc) await this.stop("SIGKILL");
  }

  logText() {
    return this.logs
      .filter((p) => fs.existsSync(p))
      .map((p) => `--- ${path.basename(p)} ---\n${fs.readFileSync(p, "utf8")}`)
      .join("\n");
  }
}

/** Let tern generate its self-signed localhost certificate; copy the pair to `dir`. */
export async function seedCert(dir) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tern-seed-"));
  try {
    const server = new TernServer(root);
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
