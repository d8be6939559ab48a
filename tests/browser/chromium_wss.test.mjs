// Browser tests: strophe.js in Debian's headless Chromium (driven by playwright-core) against
// the real tern binary over XMPP over WebSocket with TLS (RFC 7395, a `wss` listener), from a
// page on another origin, with certificates Chromium really verifies.
//
// Run with tests/browser/run.sh (or `node --test chromium_wss.test.mjs` here after
// `cargo build -p tern`, `npm ci` and `apt-get install chromium libnss3-tools`).
//
// The test makes its own PKI with the openssl CLI: a CA, a certificate for the vhost
// example.test (SAN example.test; the vhost's cert/key) and one for the node host name
// t2.example.test (SAN t2.example.test; a [[certificates]] entry). Chromium trusts the CA the
// way a user's Chromium on Linux does: it runs with HOME set to a temporary directory whose
// NSS database ($HOME/.pki/nssdb, made with certutil) holds the CA with trust "C,," (a CA
// for TLS servers). No --ignore-certificate-errors, and playwright's ignoreHTTPSErrors is
// off. --host-resolver-rules maps example.test, t2.example.test and unknown.test to
// 127.0.0.1. The page is served from http://localhost:PAGEPORT.
//
//  * alice connects to wss://example.test:PORT/xmpp-websocket, bob to wss://t2.example.test:PORT/
//    (the node host name: tern picks the t2 certificate by SNI) with the stream's to= the
//    vhost; both log in with SCRAM and exchange messages.
//  * negative: wss://unknown.test:PORT/ gets tern's default certificate (the first vhost's,
//    example.test): Chromium rejects it (ERR_CERT_COMMON_NAME_INVALID) and strophe reports
//    CONNFAIL. And a Chromium whose NSS database lacks the CA rejects even example.test
//    (ERR_CERT_AUTHORITY_INVALID): the trust comes from that database, not from ignored errors.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import tls from "node:tls";

import {
  scenario,
  openPage,
  waitInPage,
  gotMessage,
  until,
  launchChromium,
  makeTestPki,
  trustCaInNssDb,
  WS_PATH,
  STEP,
} from "./harness.mjs";

const VHOST = "example.test";
const NODE_HOST = "t2.example.test";
const UNKNOWN = "unknown.test";
const HOST_RULES = `--host-resolver-rules=${[VHOST, NODE_HOST, UNKNOWN].map((h) => `MAP ${h} 127.0.0.1`).join(", ")}`;

/**
 * The leaf certificate tern presents for SNI `servername`, checked from Node against `ca` and
 * the name (authorized: the chain and the name verify; else authorizationError says why).
 */
function presentedCert(port, servername, ca) {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: "127.0.0.1", port, servername, ca: fs.readFileSync(ca), rejectUnauthorized: false });
    sock.once("secureConnect", () => {
      const cert = sock.getPeerCertificate();
      resolve({
        subject: cert.subject?.CN,
        san: cert.subjectaltname,
        issuer: cert.issuer?.CN,
        authorized: sock.authorized,
        authorizationError: sock.authorizationError ?? null,
      });
      sock.destroy();
    });
    sock.once("error", reject);
  });
}

/**
 * The certificate Chromium verified for `host` is that name's own, from the test CA, as its
 * DevTools protocol reports it (securityDetails of a GET of the wss listener's root, which
 * tern answers, made by the page over a new TLS connection to that name).
 */
async function assertBrowserSeesCert(p, host, port) {
  const url = `https://${host}:${port}/`;
  const got = await p.page.evaluate((u) => tern.get(u), url);
  assert.equal(got.ok, true, `GET ${url} from the page: ${JSON.stringify(got)}`);
  const res = await until(
    () => p.net.events.find((e) => e.ev === "Network.responseReceived" && e.response.url === url),
    STEP,
    `Chromium reports the response from ${url}`,
  );
  const sec = res.response.securityDetails;
  assert.ok(sec, `Chromium's TLS details for ${host}`);
  assert.equal(sec.subjectName, host, `${host}: the certificate's subject`);
  assert.deepEqual(sec.sanList, [host], `${host}: the certificate's SANs`);
  assert.match(sec.issuer, /^tern test CA /, `${host}: issued by the test CA`);
}

/** The statuses strophe reported in the page after a failed connection attempt, and the WebSocket error Chromium reported. */
async function failedConnection(p, url) {
  const log = await waitInPage(p, `strophe gives up on ${url}`, (l) => l.statuses.includes("DISCONNECTED") && l);
  const err = await until(
    () => p.net.events.find((e) => e.ev === "Network.webSocketFrameError"),
    STEP,
    `Chromium reports the WebSocket error for ${url}`,
  );
  const created = p.net.events.find((e) => e.ev === "Network.webSocketCreated");
  assert.equal(created?.url, url, "the page opened the WebSocket");
  assert.equal(
    p.net.events.find((e) => e.ev === "Network.webSocketHandshakeResponseReceived"),
    undefined,
    "no WebSocket handshake response",
  );
  assert.ok(!log.statuses.includes("CONNECTED"), `never connected: ${log.statuses}`);
  assert.ok(
    log.statuses.some((s) => s.startsWith("CONNFAIL:")),
    `strophe reported CONNFAIL: ${log.statuses}`,
  );
  return err.errorMessage;
}

scenario(
  "chromium trusts a test CA (NSS database): wss to the vhost and to a node host name (SNI), cross-origin",
  (s) => {
    s.pki = makeTestPki(path.join(s.root, "pki"), [VHOST, NODE_HOST]);
    const home = path.join(s.root, "home");
    s.nssListing = trustCaInNssDb(home, s.pki.ca);
    s.launch = { home, args: [HOST_RULES] };
    return {
      domain: VHOST,
      vhost: { ...s.pki.leaves[VHOST], registration: "open" },
      certificates: [{ domain: NODE_HOST, ...s.pki.leaves[NODE_HOST] }],
      listeners: ["wss"],
      logLevel: "info",
    };
  },
  [
    [
      "tern presents each name's certificate by SNI (checked from Node against the test CA)",
      async (s) => {
        assert.match(s.nssListing, /tern-test-ca\s+C,,/, `the NSS database trusts the CA:\n${s.nssListing}`);
        s.A = s.server.addUser("alice", "alice-wss-pw");
        s.B = s.server.addUser("bob", "bob-wss-pw");
        s.C = s.server.addUser("carol", "carol-wss-pw");
        await s.server.start();
        s.port = s.server.ports.wss;
        const expect = { [VHOST]: VHOST, [NODE_HOST]: NODE_HOST, [UNKNOWN]: VHOST /* the default: the first vhost's */ };
        for (const [sni, leaf] of Object.entries(expect)) {
          const c = await presentedCert(s.port, sni, s.pki.ca);
          assert.equal(c.subject, leaf, `SNI ${sni}: certificate subject`);
          assert.equal(c.san, `DNS:${leaf}`, `SNI ${sni}: certificate SAN`);
          assert.match(c.issuer, /^tern test CA /, `SNI ${sni}: issuer`);
          // The chain verifies against the test CA; the name only where the certificate covers it.
          if (sni === leaf) assert.equal(c.authorized, true, `SNI ${sni}: verified (${c.authorizationError})`);
          else assert.equal(c.authorizationError, "ERR_TLS_CERT_ALTNAME_INVALID", `SNI ${sni}: only the name fails`);
        }
      },
    ],
    [
      `alice: wss://${VHOST}:PORT${WS_PATH} (the vhost's name), SCRAM login from another origin`,
      async (s) => {
        s.urlA = `wss://${VHOST}:${s.port}${WS_PATH}`;
        s.a = await openPage(s, "A", s.site.pageUrl(s.urlA));
        s.la = await s.a.page.evaluate(([j, p]) => tern.connect(j, p), [s.A, "alice-wss-pw"]);
        assert.equal(s.la.jid.split("/")[0], s.A, "bound JID");
        assert.ok(s.la.jid.includes("/"), `full JID bound: ${s.la.jid}`);
        assert.match(s.la.mechanism, /^SCRAM-SHA-/, "SASL mechanism");
        assert.deepEqual(s.la.websocket, { url: s.urlA, protocol: "xmpp" }, "the page's WebSocket");
        const hs = s.a.net.events.find((e) => e.ev === "Network.webSocketHandshakeResponseReceived");
        assert.equal(hs?.response.status, 101, "WebSocket handshake answered with 101");
        const opens = await s.a.page.evaluate(() => globalThis.ternLog.streamOpens);
        assert.match(opens.find((o) => o.dir === "out")?.xml ?? "", new RegExp(`to=["']${VHOST}["']`), "stream to=");
        assert.match(opens.find((o) => o.dir === "in")?.xml ?? "", new RegExp(`from=["']${VHOST}["']`), "stream from=");
        await assertBrowserSeesCert(s.a, VHOST, s.port);
      },
    ],
    [
      `bob: wss://${NODE_HOST}:PORT/ (the node host name, its certificate chosen by SNI), stream to=${VHOST}`,
      async (s) => {
        s.urlB = `wss://${NODE_HOST}:${s.port}/`;
        s.b = await openPage(s, "B", s.site.pageUrl(s.urlB));
        s.lb = await s.b.page.evaluate(([j, p]) => tern.connect(j, p), [s.B, "bob-wss-pw"]);
        assert.equal(s.lb.jid.split("/")[0], s.B, "bound JID");
        assert.match(s.lb.mechanism, /^SCRAM-SHA-/, "SASL mechanism");
        assert.deepEqual(s.lb.websocket, { url: s.urlB, protocol: "xmpp" }, "the page's WebSocket");
        const opens = await s.b.page.evaluate(() => globalThis.ternLog.streamOpens);
        const out = opens.filter((o) => o.dir === "out");
        assert.ok(out.length >= 2, `stream opened, then restarted after SASL: ${JSON.stringify(opens)}`);
        for (const o of out) assert.match(o.xml, new RegExp(`to=["']${VHOST}["']`), "the stream is for the vhost");
        await assertBrowserSeesCert(s.b, NODE_HOST, s.port);
      },
    ],
    [
      "alice (via the vhost's name) and bob (via the node host name) exchange messages",
      async ({ a, b, A, B, la, lb }) => {
        await a.page.evaluate((to) => tern.sendMessage(to, "hello bob, over wss to example.test"), B);
        await waitInPage(b, "A's message", gotMessage, { from: A, body: "hello bob, over wss to example.test" });
        await b.page.evaluate((to) => tern.sendMessage(to, "hi alice, over wss to t2.example.test"), A);
        await waitInPage(a, "B's message", gotMessage, { from: B, body: "hi alice, over wss to t2.example.test" });
        const [ma, mb] = await Promise.all([a, b].map((p) => p.page.evaluate(() => globalThis.ternLog.messages)));
        assert.equal(mb[0].from, la.jid, "B: from A's full JID");
        assert.equal(ma[0].from, lb.jid, "A: from B's full JID");
        assert.deepEqual(ma.map((m) => m.body), ["hi alice, over wss to t2.example.test"], "A: each message once");
        assert.deepEqual(mb.map((m) => m.body), ["hello bob, over wss to example.test"], "B: each message once");
      },
    ],
    [
      `negative: wss://${UNKNOWN}:PORT/ gets the default (${VHOST}) certificate; Chromium rejects it, strophe reports CONNFAIL`,
      async (s) => {
        const url = `wss://${UNKNOWN}:${s.port}/`;
        const c = await openPage(s, "C", s.site.pageUrl(url));
        const logBefore = s.server.log().length;
        await c.page.evaluate(([j, p]) => tern.startConnect(j, p), [s.C, "carol-wss-pw"]);
        const error = await failedConnection(c, url);
        assert.match(error, /ERR_CERT_COMMON_NAME_INVALID/, "Chromium's WebSocket error");
        assert.doesNotMatch(s.server.log().slice(logBefore), /authenticated jid=carol@/, "carol never reached tern's SASL");
      },
      { independent: true },
    ],
    [
      `control: a Chromium whose NSS database lacks the test CA rejects even wss://${VHOST} (ERR_CERT_AUTHORITY_INVALID)`,
      async (s) => {
        const home = path.join(s.root, "home-without-ca");
        fs.mkdirSync(home);
        const browser = await launchChromium({ home, args: [HOST_RULES] });
        try {
          const url = `wss://${VHOST}:${s.port}${WS_PATH}`;
          const d = await openPage(s, "D", s.site.pageUrl(url), browser);
          await d.page.evaluate(([j, p]) => tern.startConnect(j, p), [s.C, "carol-wss-pw"]);
          const error = await failedConnection(d, url);
          assert.match(error, /ERR_CERT_AUTHORITY_INVALID/, "Chromium's WebSocket error");
        } finally {
          await browser.close().catch(() => {});
        }
      },
      { independent: true },
    ],
    [
      "both log out",
      async ({ a, b }) => {
        const r = await Promise.all([a.page.evaluate(() => tern.disconnect()), b.page.evaluate(() => tern.disconnect())]);
        assert.deepEqual(r, ["DISCONNECTED", "DISCONNECTED"]);
      },
    ],
  ],
);
