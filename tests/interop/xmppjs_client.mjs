// Shared by the Node interop tests: @xmpp/client (xmpp.js) clients that log in to a tern test
// server over TCP with STARTTLS (an xmpp:// service) or WebSocket (a ws:// or wss:// service),
// with inboxes of what they receive.
//
// @xmpp/websocket uses the global WebSocket, which Node 20 lacks (without a flag); like
// strophe.js's Node build, install the `ws` package's WebSocket, so that both libraries use
// the same implementation whatever the Node version. It verifies TLS against node's CAs plus
// NODE_EXTRA_CA_CERTS.

import assert from "node:assert/strict";

import { client, xml } from "@xmpp/client";
import WebSocket from "ws";

import { Inbox, withTimeout } from "./inbox.mjs";
import { onCleanup } from "./tern_test.mjs";

globalThis.WebSocket = WebSocket;

export { xml };
export const STEP_TIMEOUT = 15_000;
const SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl";
const ROSTER_NS = "jabber:iq:roster";
const SM_NS = "urn:xmpp:sm:3";
export const MECH = "SCRAM-SHA-1"; // the only SCRAM variant @xmpp/client implements

export const bareOf = (j) => (j ?? "").split("/")[0];
export const presFrom = (bare, type) => (p) => bareOf(p.attrs.from) === bare && (p.attrs.type ?? "available") === type;
export const bodyIs = (text) => (m) => m.getChildText("body") === text;

/**
 * Log in as USER@<server's domain> with SCRAM-SHA-1 over `service` (default: the c2s
 * listener, STARTTLS); returns the client with its inboxes. Checks that TLS was used and the
 * certificate verified (STARTTLS, wss), that SCRAM was offered and sent, and the bound JID.
 */
export async function login(server, user, password, { service = `xmpp://127.0.0.1:${server.port}` } = {}) {
  const offered = [];
  const authSent = [];
  const xmpp = client({
    service,
    domain: server.domain,
    timeout: STEP_TIMEOUT,
    credentials: async (authenticate, mechanisms) => {
      offered.push(...mechanisms);
      await authenticate({ username: user, password }, MECH);
    },
  });
  xmpp.reconnect.stop(); // a dead server is a test event, not something to hide
  const c = {
    xmpp,
    user,
    service,
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
    c.jid = await withTimeout(xmpp.start(), STEP_TIMEOUT, `${user} login over ${service}`);
  } catch (err) {
    await forceClose(c);
    throw new Error(`${user} could not log in over ${service}: ${err}; errors: ${c.errors.join("; ")}`);
  }
  onCleanup(() => forceClose(c));

  const scheme = new URL(service).protocol;
  assert.ok(xmpp.isSecure(), "connection is not secure");
  if (scheme === "xmpp:") {
    // STARTTLS happened and the certificate was verified against the trusted one.
    const tlsSocket = xmpp.socket.socket;
    assert.equal(tlsSocket.encrypted, true, "socket is not TLS");
    assert.equal(tlsSocket.authorized, true, `certificate not verified: ${tlsSocket.authorizationError}`);
  } else {
    // The `ws` WebSocket and its underlying socket: TLS, with the certificate verified, for wss.
    const ws = xmpp.socket.socket;
    assert.ok(ws instanceof WebSocket, "@xmpp/client uses the ws package's WebSocket");
    assert.equal(ws.protocol, "xmpp", "the negotiated WebSocket subprotocol");
    assert.equal(Boolean(ws._socket.encrypted), scheme === "wss:", `${service}: TLS`);
    if (scheme === "wss:") assert.equal(ws._socket.authorized, true, `certificate not verified: ${ws._socket.authorizationError}`);
  }
  // SCRAM was offered and is what was actually sent.
  assert.ok(offered.includes(MECH), `server offered ${offered}`);
  assert.deepEqual(authSent, [MECH]);
  assert.equal(c.jid.bare().toString(), `${user}@${server.domain}`);
  assert.ok(c.jid.resource, "no resource bound");
  return c;
}

export async function forceClose(c) {
  c.xmpp.reconnect.stop();
  if (c.xmpp.status === "offline") return;
  try {
    await withTimeout(c.xmpp.stop(), 5_000, "client stop");
  } catch {
    const s = c.xmpp.socket?.socket;
    if (s instanceof WebSocket) s.terminate();
    else s?.destroy?.();
  }
}

export async function logout(c) {
  await withTimeout(c.xmpp.stop(), STEP_TIMEOUT, "logout");
}

/** The roster as {jid: {name, subscription, ask, groups}}. */
export async function rosterItems(c) {
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
