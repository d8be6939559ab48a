// Interop tests: the real tern binary against strophe.js over BOSH (XEP-0124/0206).
//
// Run with tests/interop/run.sh (or `node --test strophe_bosh.test.mjs` here after
// `cargo build -p tern`). Each test starts its own server with an `http` listener on an
// ephemeral port; two strophe.js clients log in over BOSH at http://127.0.0.1:PORT/http-bind
// (SCRAM, since PLAIN is not offered over plain HTTP), subscribe to each other, exchange
// messages, and one logs out cleanly. The clients come from ./strophe_client.mjs (shared with
// websocket.test.mjs); STROPHE_DEBUG=1 prints every BOSH body sent and received.

import assert from "node:assert/strict";

import { Strophe, $msg, $pres } from "strophe.js";

import { DOMAIN } from "./tern_server.mjs";
import { Inbox } from "./inbox.mjs";
import { ternTest, onCleanup } from "./tern_test.mjs";
import { login, logout, roster, show, presenceFrom, bodyOf } from "./strophe_client.mjs";

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
  onCleanup(() => conn._doDisconnect());
  await statuses.waitFor((s) => s === Strophe.Status.AUTHFAIL, "AUTHFAIL");
  // strophe leaves the session open after AUTHFAIL (SASL may be retried): terminate it.
  conn.disconnect("giving up");
  await statuses.waitFor((s) => s === Strophe.Status.DISCONNECTED, "DISCONNECTED after terminate");
  const carol = await login(server, "carol", "right");
  await roster(carol);
  await logout(carol);
});
