// Interop tests: the real tern binary against @xmpp/client (xmpp.js).
//
// Run with tests/interop/run.sh or `npm test` here: both let tern generate its
// self-signed certificate first and start node with NODE_EXTRA_CA_CERTS pointing
// at it (node reads that variable only at start-up), e.g.
//   node tern_server.mjs seed-cert .certs && NODE_EXTRA_CA_CERTS=.certs/localhost.crt node --test
// Each test starts its own server seeded with that certificate, on an ephemeral
// port; the clients connect with STARTTLS (xmpp://) and verify the certificate.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";

import { client, xml } from "@xmpp/client";

import { TernServer, DOMAIN } from "./tern_server.mjs";
import { Inbox, withTimeout } from "./inbox.mjs";

const STEP_TIMEOUT = 15_000;
const TEST_TIMEOUT = 120_000;
const SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl";
const ROSTER_NS = "jabber:iq:roster";
const DELAY_NS = "urn:xmpp:delay";
const SM_NS = "urn:xmpp:sm:3";
const MECH = "SCRAM-SHA-1"; // the only SCRAM variant @xmpp/client implements

/** The certificate node trusts (NODE_EXTRA_CA_CERTS) and its key, or a clear error. */
function trustedCertDir() {
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  if (!ca || !fs.existsSync(ca) || !fs.existsSync(ca.replace(/\.crt$/, ".key"))) {
    throw new Error(
      "NODE_EXTRA_CA_CERTS must name a tern-generated localhost.crt (with localhost.key beside it); " +
        "run tests/interop/run.sh or `npm test`, which set it up",
    );
  }
  return path.dirname(ca);
}

// ----------------------------------------------------------------- harness

/** Client clean-ups of the running test, run after it whatever happens. */
const cleanups = [];

/** A test with its own tern server; the server log is attached to any failure. */
function ternTest(name, fn) {
  test(name, { timeout: TEST_TIMEOUT }, async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "tern-interop-"));
    let server;
    try {
      server = new TernServer(root, { certDir: trustedCertDir() });
      const trusted = fs.readFileSync(process.env.NODE_EXTRA_CA_CERTS);
      server.assertServesTrustedCert = () =>
        assert.ok(fs.readFileSync(server.cert).equals(trusted), "tern replaced the seeded certificate instead of reusing it");
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



/** Log in over STARTTLS with SCRAM-SHA-1; returns the client with its inboxes. */
async function login(server, user, password) {
  const offered = [];
  const authSent = [];
  const xmpp = client({
    service: `xmpp://127.0.0.1:${server.port}`,
    domain: DOMAIN,
    timeout: STEP_TIMEOUT,
    credentials: async (authenticate, mechanisms) => {
      offered.push(...mechanisms);
      await authenticate({ username: user, password }, MECH);
    },
  });
  xmpp.reconnect.stop(); // a dead server is a test event, not something to hide
  const c = {
    xmpp,
    offered,
    authSent,
    messages: new Inbox(),
    presences: new Inbox(),
    rosterPushes: new Inbox(),
    smNonzas: new Inbox(),
    errors: [],
    jid: null,
  };
  xmpp.on("error", (err) => c.errors.push(err));
  xmpp.on("send", (el) => {
    if (el.is("auth", SASL_NS)) authSent.push(el.attrs.mechanism);
  });
  xmpp.on("element", (el) => {
    if (el.getNS() === SM_NS && (el.is("enabled") || el.is("failed"))) c.smNonzas.push(el);
  });
  xmpp.on("stanza", (st) => {
    if (st.is("message")) c.messages.push(st);
    else if (st.is("presence")) c.presences.push(st);
  });
  xmpp.iqCallee.set(ROSTER_NS, "query", (ctx) => {
    c.rosterPushes.push(ctx.stanza);
    return true;
  });
  try {
    c.jid = await withTimeout(xmpp.start(), STEP_TIMEOUT, `${user} login`);
  } catch (err) {
    await forceClose(c);
    throw new Error(`${user} could not log in: ${err}; errors: ${c.errors.join("; ")}`);
  }
  cleanups.push(() => forceClose(c));

  // STARTTLS happened and the certificate was verified against the trusted one.
  assert.ok(xmpp.isSecure(), "connection is not secure");
  const tlsSocket = xmpp.socket.socket;
  assert.equal(tlsSocket.encrypted, true, "socket is not TLS");
  assert.equal(tlsSocket.authorized, true, `certificate not verified: ${tlsSocket.authorizationError}`);
  assert.equal(xmpp.options.service.startsWith("xmpp://"), true);
  // SCRAM was offered and is what was actually sent.
  assert.ok(offered.includes(MECH), `server offered ${offered}`);
  assert.deepEqual(authSent, [MECH]);
  assert.equal(c.jid.bare().toString(), `${user}@${DOMAIN}`);
  assert.ok(c.jid.resource, "no resource bound");
  return c;
}

async function forceClose(c) {
  c.xmpp.reconnect.stop();
  if (c.xmpp.status === "offline") return;
  try {
    await withTimeout(c.xmpp.stop(), 5_000, "client stop");
  } catch {
    c.xmpp.socket?.socket?.destroy?.();
  }
}

async function logout(c) {
  await withTimeout(c.xmpp.stop(), STEP_TIMEOUT, "logout");
}

async function rosterItems(c) {
  const res = await c.xmpp.iqCaller.request(xml("iq", { type: "get" }, xml("query", { xmlns: ROSTER_NS })), STEP_TIMEOUT);
  assert.equal(res.attrs.type, "result", String(res));
  const query = res.getChild("query", ROSTER_NS);
  assert.ok(query, `roster result without query: ${res}`);
  const items = {};
  for (const it of query.getChildren("item")) {
    items[it.attrs.jid] = {
      name: it.attrs.name,
      subscription: it.attrs.subscription ?? "none",
      ask: it.attrs.ask,
      groups: it.getChildren("group").map((g) => g.text()).sort(),
    };
  }
  return items;
}

const bareOf = (j) => (j ?? "").split("/")[0];
const presFrom = (bare, type) => (p) => bareOf(p.attrs.from) === bare && (p.attrs.type ?? "available") === type;
const bodyIs = (text) => (m) => m.getChildText("body") === text;

// ----------------------------------------------------------------- tests

ternTest("SCRAM over STARTTLS, mutual presence subscription, messages both ways", async (server) => {
  const aliceJid = server.addUser("alice", "alice-secret");
  const bobJid = server.addUser("bob", "bob-secret");
  await server.start();
  server.assertServesTrustedCert();

  const a = await login(server, "alice", "alice-secret");
  const b = await login(server, "bob", "bob-secret");
  await a.xmpp.send(xml("presence"));
  await b.xmpp.send(xml("presence"));

  // alice -> bob subscription, approved
  await a.xmpp.send(xml("presence", { to: bobJid, type: "subscribe" }));
  await b.presences.waitFor(presFrom(aliceJid, "subscribe"), "subscribe from alice at bob");
  await b.xmpp.send(xml("presence", { to: aliceJid, type: "subscribed" }));
  await a.presences.waitFor(presFrom(bobJid, "subscribed"), "subscribed from bob at alice");
  const pb = await a.presences.waitFor(presFrom(bobJid, "available"), "bob's presence at alice");
  assert.equal(pb.attrs.from, b.jid.toString());

  // bob -> alice subscription, approved
  await b.xmpp.send(xml("presence", { to: aliceJid, type: "subscribe" }));
  await a.presences.waitFor(presFrom(bobJid, "subscribe"), "subscribe from bob at alice");
  await a.xmpp.send(xml("presence", { to: bobJid, type: "subscribed" }));
  await b.presences.waitFor(presFrom(aliceJid, "subscribed"), "subscribed from alice at bob");
  const pa = await b.presences.waitFor(presFrom(aliceJid, "available"), "alice's presence at bob");
  assert.equal(pa.attrs.from, a.jid.toString());

  const ra = await rosterItems(a);
  const rb = await rosterItems(b);
  assert.equal(ra[bobJid]?.subscription, "both", JSON.stringify(ra));
  assert.equal(rb[aliceJid]?.subscription, "both", JSON.stringify(rb));

  // messages both ways
  const body1 = `hello bob ${randomUUID()}`;
  await a.xmpp.send(xml("message", { to: bobJid, type: "chat", id: randomUUID() }, xml("body", {}, body1)));
  const m1 = await b.messages.waitFor(bodyIs(body1), "alice's message at bob");
  assert.equal(m1.attrs.from, a.jid.toString());
  assert.equal(m1.attrs.type, "chat");
  assert.equal(bareOf(m1.attrs.to), bobJid);

  const body2 = `hi alice ${randomUUID()}`;
  await b.xmpp.send(xml("message", { to: m1.attrs.from, type: "chat", id: randomUUID() }, xml("body", {}, body2)));
  const m2 = await a.messages.waitFor(bodyIs(body2), "bob's reply at alice");
  assert.equal(m2.attrs.from, b.jid.toString());
  assert.equal(m2.attrs.to, a.jid.toString());

  await logout(a);
  await b.presences.waitFor(presFrom(aliceJid, "unavailable"), "alice's unavailable presence at bob");
  await logout(b);
  assert.deepEqual(a.errors, []);
  assert.deepEqual(b.errors, []);
});

ternTest("a roster item with name and groups survives a restart (SIGTERM)", async (server) => {
  const aliceJid = server.addUser("alice", "alice-secret");
  const carol = `carol@${DOMAIN}`;
  await server.start();

  const a = await login(server, "alice", "alice-secret");
  // Fetching the roster makes this an interested resource (RFC 6121 §2.1.6).
  assert.equal((await rosterItems(a))[carol], undefined);
  const set = xml(
    "iq",
    { type: "set" },
    xml("query", { xmlns: ROSTER_NS }, xml("item", { jid: carol, name: "Carol C." }, xml("group", {}, "Friends"), xml("group", {}, "Work"))),
  );
  const res = await a.xmpp.iqCaller.request(set, STEP_TIMEOUT);
  assert.equal(res.attrs.type, "result");
  const push = await a.rosterPushes.waitFor(
    (iq) => iq.getChild("query", ROSTER_NS)?.getChild("item")?.attrs.jid === carol,
    "roster push",
  );
  const pushed = push.getChild("query", ROSTER_NS).getChild("item");
  assert.equal(pushed.attrs.name, "Carol C.");
  assert.deepEqual(pushed.getChildren("group").map((g) => g.text()).sort(), ["Friends", "Work"]);
  assert.ok(!push.attrs.from || push.attrs.from === aliceJid, `roster push from ${push.attrs.from}`);
  await logout(a);

  const exit = await server.stop("SIGTERM");
  assert.deepEqual(exit, { code: 0, signal: null }, `exit on SIGTERM:\n${server.logText()}`);
  await server.start();

  const a2 = await login(server, "alice", "alice-secret");
  const items = await rosterItems(a2);
  assert.ok(items[carol], `roster item lost across restart: ${JSON.stringify(items)}`);
  assert.equal(items[carol].name, "Carol C.");
  assert.deepEqual(items[carol].groups, ["Friends", "Work"]);
  assert.equal(items[carol].subscription, "none");
  await logout(a2);
});

ternTest("a message to an offline user survives SIGKILL and arrives with a delay", async (server) => {
  const aliceJid = server.addUser("alice", "alice-secret");
  const bobJid = server.addUser("bob", "bob-secret");
  await server.start();

  const a = await login(server, "alice", "alice-secret");
  // @xmpp/client enables XEP-0198 after binding; wait for the server's answer.
  const sm = await a.smNonzas.waitFor(() => true, "XEP-0198 <enabled/> or <failed/>");
  assert.ok(sm.is("enabled"), `XEP-0198 enable refused: ${sm}`);
  assert.ok(a.xmpp.streamManagement.enabled, "XEP-0198 not enabled in the client");
  await a.xmpp.send(xml("presence"));
  const body = `while you were away ${randomUUID()}`;
  const id = randomUUID();
  // XEP-0198: wait until the server acknowledges having handled the message.
  const acked = new Promise((resolve) =>
    a.xmpp.streamManagement.on("ack", (st) => {
      if (st.attrs.id === id) resolve();
    }),
  );
  await a.xmpp.send(xml("message", { to: bobJid, type: "chat", id }, xml("body", {}, body)));
  await withTimeout(acked, STEP_TIMEOUT, "XEP-0198 ack of the message");
  const bounced = a.messages.take((m) => m.attrs.type === "error");
  assert.equal(bounced, undefined, `message to offline bob bounced: ${bounced}`);
  const sentAt = Date.now();

  const exit = await server.stop("SIGKILL");
  assert.deepEqual(exit, { code: null, signal: "SIGKILL" });
  await forceClose(a);
  await server.start();

  const b = await login(server, "bob", "bob-secret");
  assert.equal(b.messages.items.length, 0, `message before initial presence: ${b.messages.items}`);
  await b.xmpp.send(xml("presence"));
  const m = await b.messages.waitFor(bodyIs(body), "the offline message at bob");
  assert.equal(bareOf(m.attrs.from), aliceJid);
  assert.equal(m.attrs.type, "chat");
  const delay = m.getChild("delay", DELAY_NS);
  assert.ok(delay, `offline message without XEP-0203 delay: ${m}`);
  assert.equal(delay.attrs.from, DOMAIN);
  const stamp = Date.parse(delay.attrs.stamp);
  assert.ok(Number.isFinite(stamp), `bad stamp ${delay.attrs.stamp}`);
  assert.ok(Math.abs(stamp - sentAt) < 120_000, `stamp ${delay.attrs.stamp} vs sent ${new Date(sentAt).toISOString()}`);
  await logout(b);

  // Delivered once only.
  const b2 = await login(server, "bob", "bob-secret");
  await b2.xmpp.send(xml("presence"));
  await b2.xmpp.iqCaller.request(xml("iq", { type: "get", to: DOMAIN }, xml("ping", { xmlns: "urn:xmpp:ping" })), STEP_TIMEOUT);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(b2.messages.take(bodyIs(body)), undefined, "offline message delivered twice");
  await logout(b2);
});
