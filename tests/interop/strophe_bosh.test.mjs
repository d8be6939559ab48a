// Interop tests: the real tern binary against strophe.js over BOSH (XEP-0124/0206).
//
// Run with tests/interop/run.sh (or `node --test strophe_bosh.test.mjs` here after
// `cargo build -p tern`). Each test starts its own server with an `http` listener on an
// ephemeral port; two strophe.js clients log in over BOSH at http://127.0.0.1:PORT/http-bind
// (SCRAM, since PLAIN is not offered over plain HTTP), subscribe to each other, exchange
// messages, and one logs out cleanly. strophe.js's Node build brings the DOM
// (@xmldom/xmldom) and WebSocket (ws); XMLHttpRequest comes from ./xhr_shim.mjs.
// STROPHE_DEBUG=1 prints every BOSH body sent and received.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { Strophe, $msg, $pres, $iq } from "strophe.js";

import { installXMLHttpRequest } from "./xhr_shim.mjs";
import { TernServer, DOMAIN } from "./tern_server.mjs";
import { Inbox, withTimeout } from "./inbox.mjs";

installXMLHttpRequest();
Strophe.setLogLevel(Strophe.LogLevel.FATAL);

const STEP_TIMEOUT = 15_000;
const TEST_TIMEOUT = 120_000;
const ROSTER_NS = "jabber:iq:roster";
// strophe.js prefers the strongest SCRAM variant; tern offers SCRAM-SHA-256 and SCRAM-SHA-1
// over plain HTTP (no PLAIN without TLS).
const EXPECTED_MECH = "SCRAM-SHA-256";

// ----------------------------------------------------------------- harness

const cleanups = [];

/** A test with its own tern server; the server log is attached to any failure. */
function ternTest(name, fn) {
  test(name, { timeout: TEST_TIMEOUT }, async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "tern-strophe-"));
    let server;
    try {
      server = new TernServer(root);
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


const show = (x) => (typeof x === "number" ? String(x) : Strophe.serialize(x));


const bare = (jid) => Strophe.getBareJidFromJid(jid);

/** A presence from `from` (bare JID) of `type` ("available": no type attribute). */
const presenceFrom = (from, type) => (p) =>
  bare(p.getAttribute("from") ?? "") === from && (p.getAttribute("type") ?? "available") === type;

/** Log in over BOSH; returns the connection with its inboxes. */
async function login(server, user, password) {
  const conn = new Strophe.Connection(server.boshUrl);
  assert.equal(conn._proto.constructor.name, "Bosh", "an http:// service selects strophe's BOSH transport");
  const c = {
    conn,
    user,
    jid: `${user}@${DOMAIN}`,
    statuses: new Inbox(show),
    messages: new Inbox(show),
    presences: new Inbox(show),
    rawIn: [],
    rawOut: [],
  };
  conn.rawInput = (d) => (process.env.STROPHE_DEBUG && console.error(Date.now() % 100000, user, "IN ", d), c.rawIn.push(d));
  conn.rawOutput = (d) => (process.env.STROPHE_DEBUG && console.error(Date.now() % 100000, user, "OUT", d), c.rawOut.push(d));
  conn.addHandler((m) => (c.messages.push(m), true), null, "message");
  conn.addHandler((p) => (c.presences.push(p), true), null, "presence");
  const statusName = (s) => Object.keys(Strophe.Status).find((k) => Strophe.Status[k] === s) ?? String(s);
  conn.connect(c.jid, password, (status, condition) => {
    c.statuses.push(status);
    if (condition) c.lastCondition = `${statusName(status)}: ${condition}`;
  });
  cleanups.push(() => forceClose(c));
  const failed = [Strophe.Status.AUTHFAIL, Strophe.Status.CONNFAIL, Strophe.Status.DISCONNECTED, Strophe.Status.ERROR];
  const s = await c.statuses.waitFor(
    (x) => x === Strophe.Status.CONNECTED || failed.includes(x),
    `${user} BOSH login`,
  );
  assert.equal(statusName(s), "CONNECTED", `${user} could not log in (${c.lastCondition ?? "no condition"})`);

  // The mechanisms offered in the session creation response, and the one strophe used.
  const offered = [...c.rawIn.join("").matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]);
  const used = [...c.rawOut.join("").matchAll(/<auth[^>]*mechanism=["']([^"']+)["']/g)].map((m) => m[1]);
  assert.ok(offered.includes("SCRAM-SHA-256") && offered.includes("SCRAM-SHA-1"), `offered: ${offered}`);
  assert.ok(!offered.includes("PLAIN"), `no PLAIN over plain HTTP: ${offered}`);
  assert.deepEqual(used, [EXPECTED_MECH], `strophe authenticated with ${used}`);
  assert.ok(conn.authenticated, "not authenticated");
  // XEP-0206 restart then bind: a full JID.
  assert.equal(bare(conn.jid), c.jid);
  assert.ok(Strophe.getResourceFromJid(conn.jid), `no resource bound: ${conn.jid}`);
  assert.match(conn._proto.sid ?? "", /^[A-Za-z0-9_-]{22,}$/, "BOSH sid");
  return c;
}

/** Disconnect cleanly (terminate body with unavailable presence) and wait for DISCONNECTED. */
async function logout(c) {
  c.conn.disconnect("test done");
  await c.statuses.waitFor((x) => x === Strophe.Status.DISCONNECTED, `${c.user} DISCONNECTED`);
}

async function forceClose(c) {
  if (!c.conn.connected && !c.conn.disconnecting) return;
  try {
    await withTimeout(logout(c), 5_000, "logout");
  } catch {
    c.conn._doDisconnect();
  }
}

function sendIQ(c, iq) {
  return withTimeout(
    new Promise((resolve, reject) => c.conn.sendIQ(iq, resolve, (err) => reject(new Error(`IQ failed: ${show(err)}`)))),
    STEP_TIMEOUT,
    "IQ result",
  );
}

async function roster(c) {
  const res = await sendIQ(c, $iq({ type: "get" }).c("query", { xmlns: ROSTER_NS }));
  const items = {};
  for (const it of Array.from(res.getElementsByTagName("item"))) {
    items[it.getAttribute("jid")] = it.getAttribute("subscription") ?? "none";
  }
  return items;
}

const bodyOf = (m) => m.getElementsByTagName("body")[0]?.textContent;

// ----------------------------------------------------------------- tests

ternTest("strophe.js over BOSH: SCRAM login, mutual subscription, chat, clean logout", async (server) => {
  const aliceJid = server.addUser("alice", "alice-pw");
  const bobJid = server.addUser("bob", "bob-pw");
  await server.start();

  const alice = await login(server, "alice", "alice-pw");
  const bob = await login(server, "bob", "bob-pw");
  await roster(alice);
  await roster(bob);
  alice.conn.send($pres());
  bob.conn.send($pres());

  // alice -> bob subscription, approved.
  alice.conn.send($pres({ to: bobJid, type: "subscribe" }));
  await bob.presences.waitFor(presenceFrom(aliceJid, "subscribe"), "bob: subscribe from alice");
  bob.conn.send($pres({ to: aliceJid, type: "subscribed" }));
  await alice.presences.waitFor(presenceFrom(bobJid, "subscribed"), "alice: subscribed from bob");
  await alice.presences.waitFor(presenceFrom(bobJid, "available"), "alice: bob's presence");
  // bob -> alice subscription, approved.
  bob.conn.send($pres({ to: aliceJid, type: "subscribe" }));
  await alice.presences.waitFor(presenceFrom(bobJid, "subscribe"), "alice: subscribe from bob");
  alice.conn.send($pres({ to: bobJid, type: "subscribed" }));
  await bob.presences.waitFor(presenceFrom(aliceJid, "subscribed"), "bob: subscribed from alice");
  await bob.presences.waitFor(presenceFrom(aliceJid, "available"), "bob: alice's presence");
  assert.equal((await roster(alice))[bobJid], "both");
  assert.equal((await roster(bob))[aliceJid], "both");

  // Messages both ways, several in a row (held requests answered as they come).
  for (let i = 0; i < 5; i++) {
    alice.conn.send($msg({ to: bob.conn.jid, type: "chat" }).c("body").t(`hi bob ${i}`));
  }
  for (let i = 0; i < 5; i++) {
    const m = await bob.messages.waitFor((x) => bodyOf(x)?.startsWith("hi bob"), `bob: message ${i}`);
    assert.equal(bodyOf(m), `hi bob ${i}`, "messages arrive in order");
    assert.equal(m.getAttribute("from"), alice.conn.jid);
  }
  bob.conn.send($msg({ to: aliceJid, type: "chat" }).c("body").t("hi alice"));
  const m = await alice.messages.waitFor((x) => bodyOf(x) === "hi alice", "alice: message from bob");
  assert.equal(m.getAttribute("from"), bob.conn.jid);

  // alice logs out cleanly: a terminate body with unavailable presence.
  const aliceFull = alice.conn.jid;
  await logout(alice);
  assert.ok(
    alice.rawOut.some((d) => /type=["']terminate["']/.test(d) && /unavailable/.test(d)),
    "strophe sent a terminate body with unavailable presence",
  );
  const gone = await bob.presences.waitFor(presenceFrom(aliceJid, "unavailable"), "bob: alice unavailable");
  assert.equal(gone.getAttribute("from"), aliceFull);

  // bob's session is unaffected.
  bob.conn.send($msg({ to: bobJid, type: "chat" }).c("body").t("note to self"));
  await bob.messages.waitFor((x) => bodyOf(x) === "note to self", "bob: message to himself");
  await logout(bob);
});

ternTest("strophe.js over BOSH: a wrong password is AUTHFAIL, then the right one works", async (server) => {
  server.addUser("carol", "right");
  await server.start();
  const conn = new Strophe.Connection(server.boshUrl);
  const statuses = new Inbox(show);
  conn.connect(`carol@${DOMAIN}`, "wrong", (s) => statuses.push(s));
  cleanups.push(() => conn._doDisconnect());
  await statuses.waitFor((s) => s === Strophe.Status.AUTHFAIL, "AUTHFAIL");
  // strophe leaves the session open after AUTHFAIL (SASL may be retried): terminate it.
  conn.disconnect("giving up");
  await statuses.waitFor((s) => s === Strophe.Status.DISCONNECTED, "DISCONNECTED after terminate");
  const carol = await login(server, "carol", "right");
  await roster(carol);
  await logout(carol);
});
