// Interop tests: the real tern binary against strophe.js and @xmpp/client over XMPP over
// WebSocket (RFC 7395), on the `ws` and `wss` listeners and on the http listener's
// /xmpp-websocket.
//
// Run with tests/interop/run.sh or `npm test` here: both start node with NODE_EXTRA_CA_CERTS
// naming a tern-generated localhost certificate, and every test server is seeded with it, so
// wss://localhost:PORT is verified for real (the `ws` package, which both clients use in
// Node, checks the chain and the name against node's CAs plus that file).
//
//  * over ws, then over wss: a strophe.js user (at `/`) and an @xmpp/client user (at
//    /xmpp-websocket) log in with SCRAM and exchange messages both ways, then log out cleanly;
//  * WebSocket, BOSH and TCP clients in one server: strophe.js over WebSocket on the http
//    listener chats with strophe.js over BOSH (and sees its presence come and go), and
//    @xmpp/client over wss chats with @xmpp/client over TCP (STARTTLS).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";

import { $msg, $pres } from "strophe.js";

import { ternTest } from "./tern_test.mjs";
import * as strophe from "./strophe_client.mjs";
import * as xmppjs from "./xmppjs_client.mjs";

const { xml } = xmppjs;

/** Send from a strophe.js client to `to` and wait for it at an @xmpp/client one, or the other way. */
async function stropheToXmppjs(s, x, body) {
  s.conn.send($msg({ to: x.jid.toString(), type: "chat" }).c("body").t(body));
  const m = await x.messages.waitFor(xmppjs.bodyIs(body), `${x.user}: "${body}" from ${s.user}`);
  assert.equal(m.attrs.from, s.conn.jid, "from: the strophe.js client's full JID");
  assert.equal(m.attrs.to, x.jid.toString());
  assert.equal(m.attrs.type, "chat");
}

async function xmppjsToStrophe(x, s, body) {
  await x.xmpp.send(xml("message", { to: s.conn.jid, type: "chat", id: randomUUID() }, xml("body", {}, body)));
  const m = await s.messages.waitFor((el) => strophe.bodyOf(el) === body, `${s.user}: "${body}" from ${x.user}`);
  assert.equal(m.getAttribute("from"), x.jid.toString(), "from: the @xmpp/client client's full JID");
  assert.equal(m.getAttribute("to"), s.conn.jid);
}

for (const kind of ["ws", "wss"]) {
  ternTest(
    `over ${kind}: strophe.js and @xmpp/client log in with SCRAM, exchange messages, log out`,
    async (server) => {
      server.addUser("alice", "alice-ws-pw");
      server.addUser("bob", "bob-ws-pw");
      await server.start();
      server.assertServesTrustedCert();
      // strophe.js at the listener's root, @xmpp/client at /xmpp-websocket (both served).
      const alice = await strophe.login(server, "alice", "alice-ws-pw", { service: server.wsUrl(kind, { path: "/" }) });
      const bob = await xmppjs.login(server, "bob", "bob-ws-pw", { service: server.wsUrl(kind) });
      assert.equal(alice.conn._proto.socket.protocol, "xmpp", "strophe.js: the negotiated WebSocket subprotocol");
      alice.conn.send($pres());
      await bob.xmpp.send(xml("presence"));

      for (let i = 0; i < 3; i++) await stropheToXmppjs(alice, bob, `hello bob over ${kind} #${i} ${randomUUID()}`);
      for (let i = 0; i < 3; i++) await xmppjsToStrophe(bob, alice, `hi alice over ${kind} #${i} ${randomUUID()}`);
      // A message to the bare JID reaches the available resource too.
      const body = `to your bare JID ${randomUUID()}`;
      alice.conn.send($msg({ to: bob.jid.bare().toString(), type: "chat" }).c("body").t(body));
      await bob.messages.waitFor(xmppjs.bodyIs(body), "bob: message to his bare JID");

      // Clean logouts: RFC 7395 <close/> both ways, then the WebSocket closes.
      await strophe.logout(alice);
      assert.ok(
        alice.rawOut.some((d) => /<close [^>]*xmlns=["']urn:ietf:params:xml:ns:xmpp-framing["']/.test(d)),
        "strophe.js sent <close/>",
      );
      await xmppjs.logout(bob);
      assert.equal(bob.xmpp.status, "offline");
      assert.deepEqual(bob.errors, []);
    },
    { trusted: true },
  );
}

ternTest(
  "WebSocket, BOSH and TCP clients share one session core: messages and presence across transports",
  async (server) => {
    const aliceJid = server.addUser("alice", "alice-pw");
    const bobJid = server.addUser("bob", "bob-pw");
    server.addUser("carol", "carol-pw");
    server.addUser("dave", "dave-pw");
    await server.start();

    // strophe.js over WebSocket on the http listener (its /xmpp-websocket), and over BOSH.
    const alice = await strophe.login(server, "alice", "alice-pw", { service: server.wsUrl("http") });
    const bob = await strophe.login(server, "bob", "bob-pw", { service: server.boshUrl });
    // @xmpp/client over wss, and over TCP with STARTTLS.
    const carol = await xmppjs.login(server, "carol", "carol-pw", { service: server.wsUrl("wss") });
    const dave = await xmppjs.login(server, "dave", "dave-pw");

    // alice (WebSocket) and bob (BOSH): a mutual subscription, then messages both ways.
    await strophe.roster(alice);
    await strophe.roster(bob);
    alice.conn.send($pres());
    bob.conn.send($pres());
    alice.conn.send($pres({ to: bobJid, type: "subscribe" }));
    await bob.presences.waitFor(strophe.presenceFrom(aliceJid, "subscribe"), "bob (BOSH): subscribe from alice (WebSocket)");
    bob.conn.send($pres({ to: aliceJid, type: "subscribed" }));
    bob.conn.send($pres({ to: aliceJid, type: "subscribe" }));
    await alice.presences.waitFor(strophe.presenceFrom(bobJid, "available"), "alice (WebSocket): bob's presence");
    await alice.presences.waitFor(strophe.presenceFrom(bobJid, "subscribe"), "alice (WebSocket): subscribe from bob");
    alice.conn.send($pres({ to: bobJid, type: "subscribed" }));
    await bob.presences.waitFor(strophe.presenceFrom(aliceJid, "available"), "bob (BOSH): alice's presence");
    assert.equal((await strophe.roster(alice))[bobJid], "both");
    assert.equal((await strophe.roster(bob))[aliceJid], "both");

    alice.conn.send($msg({ to: bob.conn.jid, type: "chat" }).c("body").t("from a WebSocket to BOSH"));
    const m1 = await bob.messages.waitFor((m) => strophe.bodyOf(m) === "from a WebSocket to BOSH", "bob (BOSH): alice's message");
    assert.equal(m1.getAttribute("from"), alice.conn.jid);
    bob.conn.send($msg({ to: alice.conn.jid, type: "chat" }).c("body").t("from BOSH to a WebSocket"));
    const m2 = await alice.messages.waitFor((m) => strophe.bodyOf(m) === "from BOSH to a WebSocket", "alice (WebSocket): bob's message");
    assert.equal(m2.getAttribute("from"), bob.conn.jid);

    // carol (wss) and dave (TCP): messages both ways.
    await carol.xmpp.send(xml("presence"));
    await dave.xmpp.send(xml("presence"));
    const b1 = `from wss to TCP ${randomUUID()}`;
    await carol.xmpp.send(xml("message", { to: dave.jid.toString(), type: "chat" }, xml("body", {}, b1)));
    const m3 = await dave.messages.waitFor(xmppjs.bodyIs(b1), "dave (TCP): carol's message");
    assert.equal(m3.attrs.from, carol.jid.toString());
    const b2 = `from TCP to wss ${randomUUID()}`;
    await dave.xmpp.send(xml("message", { to: carol.jid.toString(), type: "chat" }, xml("body", {}, b2)));
    const m4 = await carol.messages.waitFor(xmppjs.bodyIs(b2), "carol (wss): dave's message");
    assert.equal(m4.attrs.from, dave.jid.toString());

    // And across the libraries: alice (strophe.js, WebSocket) and dave (@xmpp/client, TCP).
    await stropheToXmppjs(alice, dave, `from a strophe WebSocket to TCP ${randomUUID()}`);
    await xmppjsToStrophe(dave, alice, `from TCP to a strophe WebSocket ${randomUUID()}`);

    // alice's WebSocket logout ends her session: bob (BOSH) sees her unavailable presence.
    const aliceFull = alice.conn.jid;
    await strophe.logout(alice);
    const gone = await bob.presences.waitFor(strophe.presenceFrom(aliceJid, "unavailable"), "bob (BOSH): alice unavailable");
    assert.equal(gone.getAttribute("from"), aliceFull);
    await strophe.logout(bob);
    await xmppjs.logout(carol);
    await xmppjs.logout(dave);
    assert.deepEqual([...carol.errors, ...dave.errors], []);
  },
  { trusted: true },
);
