// Shared by the Node interop tests: a test with its own tern server (TernServer, with every
// listener on an ephemeral port), clean-ups that clients register and that run after the
// test whatever happens, and the certificate node trusts (NODE_EXTRA_CA_CERTS).

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { TernServer } from "./tern_server.mjs";

export const TEST_TIMEOUT = 120_000;

/** Client clean-ups of the running test, run (last first) after it whatever happens. */
const cleanups = [];
export function onCleanup(fn) {
  cleanups.push(fn);
}

/** The certificate node trusts (NODE_EXTRA_CA_CERTS) and its key, or a clear error. */
export function trustedCertDir() {
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  if (!ca || !fs.existsSync(ca) || !fs.existsSync(ca.replace(/\.crt$/, ".key"))) {
    throw new Error(
      "NODE_EXTRA_CA_CERTS must name a tern-generated localhost.crt (with localhost.key beside it); " +
        "run tests/interop/run.sh or `npm test`, which set it up",
    );
  }
  return path.dirname(ca);
}

/**
 * A test with its own tern server; the server log is attached to any failure.
 * `trusted`: seed the server with the certificate node trusts (for TLS clients that verify
 * it); the server then has `assertServesTrustedCert()`.
 */
export function ternTest(name, fn, { trusted = false } = {}) {
  test(name, { timeout: TEST_TIMEOUT }, async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "tern-interop-"));
    let server;
    try {
      server = new TernServer(root, trusted ? { certDir: trustedCertDir() } : {});
      if (trusted) {
        const pem = fs.readFileSync(process.env.NODE_EXTRA_CA_CERTS);
        server.assertServesTrustedCert = () =>
          assert.ok(fs.readFileSync(server.cert).equals(pem), "tern replaced the seeded certificate instead of reusing it");
      }
      await fn(server);
    } catch (err) {
      const log = server ? `\n\n${server.logText()}` : "";
      throw new Error(`${err?.stack ?? err}${log}`, { cause: err });
    } finally {
      while (cleanups.length) {
        try {
          await cleanups.pop()();
        } catch {}
      }
      await server?.kill();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}
