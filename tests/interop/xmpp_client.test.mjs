// Interop tests: the real tern binary against @xmpp/client (xmpp.js).
//
// Run with tests/interop/run.sh or `npm test` here: both let tern generate its
// self-signed certificate first and start node with NODE_EXTRA_CA_CERTS pointing
// at it (node reads that variable only at start-up), e.g.
//   node tern_server.mjs seed-cert .certs && NODE_EXTRA_CA_CERTS=.certs/localhost.crt node --test
// Each test starts its own server seeded with that certificate, on an ephemeral
// port; the clients connect with STARTTLS (xmpp://) and verify the certificate.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { DOMAIN } from "./tern_server.mjs";
import { withTimeout } from "./inbox.mjs";
import { ternTest } from "./tern_test.mjs";
import { login, logout, forceClose, rosterItems, xml, bareOf, presFrom, bodyIs, STEP_TIMEOUT } from "./xmppjs_client.mjs";

const ROSTER_NS = "jabber:iq:roster";
const DELAY_NS = "urn:xmpp:delay";

// Every test's server is seeded with the certificate node trusts.
const trustedTest = (name, fn) => ternTest(name, fn, { trusted: true });

// ----------------------------------------------------------------- tests

trustedTest("SCRAM over STARTTLS, mutual presence subscription, messages both ways", async (server) => {
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

trustedTest("a roster item with name and groups survives a restart (SIGTERM)", async (server) => {
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

trustedTest("a message to an offline user survives SIGKILL and arrives with a delay", async (server) => {
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
