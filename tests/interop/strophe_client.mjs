// Shared by the Node interop tests: strophe.js clients that log in to a tern test server
// over BOSH (an http:// service) or WebSocket (a ws:// or wss:// service), with inboxes of
// what they receive. strophe.js's Node build brings the DOM (@xmldom/xmldom) and WebSocket
// (the `ws` package, which verifies TLS against node's CAs plus NODE_EXTRA_CA_CERTS);
// XMLHttpRequest comes from ./xhr_shim.mjs. STROPHE_DEBUG=1 prints everything sent and
// received.

import assert from "node:assert/strict";

import { Strophe, $iq } from "strophe.js";

import { installXMLHttpRequest } from "./xhr_shim.mjs";
import { Inbox, withTimeout } from "./inbox.mjs";
import { onCleanup } from "./tern_test.mjs";

installXMLHttpRequest();
Strophe.setLogLevel(Strophe.LogLevel.FATAL);

export const STEP_TIMEOUT = 15_000;
const ROSTER_NS = "jabber:iq:roster";
// strophe.js prefers the strongest SCRAM variant; tern offers SCRAM-SHA-256 and SCRAM-SHA-1.
export const EXPECTED_MECH = "SCRAM-SHA-256";

export const show = (x) => (typeof x === "number" ? String(x) : Strophe.serialize(x));
export const bare = (jid) => Strophe.getBareJidFromJid(jid);
export const statusName = (s) => Object.keys(Strophe.Status).find((k) => Strophe.Status[k] === s) ?? String(s);

/** A presence from `from` (bare JID) of `type` ("available": no type attribute). */
export const presenceFrom = (from, type) => (p) =>
  bare(p.getAttribute("from") ?? "") === from && (p.getAttribute("type") ?? "available") === type;

export const bodyOf = (m) => m.getElementsByTagName("body")[0]?.textContent;

/**
 * Log in as USER@<server's domain> with SCRAM over `service` (default: the server's BOSH
 * URL); returns the connection with its inboxes. Checks the transport strophe chose, the
 * mechanisms offered (no PLAIN without TLS) and used, the bound full JID, and for BOSH the
 * sid, for wss that the server's certificate was verified.
 */
export async function login(server, user, password, { service = server.boshUrl } = {}) {
  const conn = new Strophe.Connection(service);
  const scheme = new URL(service).protocol;
  const websocket = scheme === "ws:" || scheme === "wss:";
  const tls = scheme === "wss:" || scheme === "https:";
  assert.equal(conn._proto.constructor.name, websocket ? "Websocket" : "Bosh", `strophe's transport for ${service}`);
  const c = {
    conn,
    user,
    service,
    jid: `${user}@${server.domain}`,
    statuses: new Inbox(show),
    messages: new Inbox(show),
    presences: new Inbox(show),
    rawIn: [],
    rawOut: [],
  };
  const debug = (dir, d) => process.env.STROPHE_DEBUG && console.error(Date.now() % 100000, user, dir, d);
  conn.rawInput = (d) => (debug("IN ", d), c.rawIn.push(d));
  conn.rawOutput = (d) => (debug("OUT", d), c.rawOut.push(d));
  conn.addHandler((m) => (c.messages.push(m), true), null, "message");
  conn.addHandler((p) => (c.presences.push(p), true), null, "presence");
  conn.connect(c.jid, password, (status, condition) => {
    c.statuses.push(status);
    if (condition) c.lastCondition = `${statusName(status)}: ${condition}`;
  });
  onCleanup(() => forceClose(c));
  const failed = [Strophe.Status.AUTHFAIL, Strophe.Status.CONNFAIL, Strophe.Status.DISCONNECTED, Strophe.Status.ERROR];
  const s = await c.statuses.waitFor(
    (x) => x === Strophe.Status.CONNECTED || failed.includes(x),
    `${user} login over ${service}`,
  );
  assert.equal(statusName(s), "CONNECTED", `${user} could not log in over ${service} (${c.lastCondition ?? "no condition"})`);

  // The mechanisms offered in the stream features, and the one strophe used.
  const offered = [...c.rawIn.join("").matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]);
  const used = [...c.rawOut.join("").matchAll(/<auth[^>]*mechanism=["']([^"']+)["']/g)].map((m) => m[1]);
  assert.ok(offered.includes("SCRAM-SHA-256") && offered.includes("SCRAM-SHA-1"), `offered: ${offered}`);
  if (!tls) assert.ok(!offered.includes("PLAIN"), `no PLAIN without TLS (${service}): ${offered}`);
  assert.deepEqual(used, [EXPECTED_MECH], `strophe authenticated with ${used}`);
  assert.ok(conn.authenticated, "not authenticated");
  // Stream restart then bind: a full JID.
  assert.equal(bare(conn.jid), c.jid);
  assert.ok(Strophe.getResourceFromJid(conn.jid), `no resource bound: ${conn.jid}`);
  if (websocket) {
    // The `ws` WebSocket's underlying socket: TLS, with the certificate verified, for wss.
    const sock = conn._proto.socket?._socket;
    assert.ok(sock, "strophe's WebSocket has an open socket");
    assert.equal(Boolean(sock.encrypted), tls, `${service}: TLS`);
    if (tls) assert.equal(sock.authorized, true, `certificate not verified: ${sock.authorizationError}`);
  } else {
    assert.match(conn._proto.sid ?? "", /^[A-Za-z0-9_-]{22,}$/, "BOSH sid");
  }
  return c;
}

/** Disconnect cleanly (unavailable presence, then BOSH terminate or WebSocket <close/>) and wait for DISCONNECTED. */
export async function logout(c) {
  c.conn.disconnect("test done");
  await c.statuses.waitFor((x) => x === Strophe.Status.DISCONNECTED, `${c.user} DISCONNECTED`);
}

export async function forceClose(c) {
  if (!c.conn.connected && !c.conn.disconnecting) return;
  try {
    await withTimeout(logout(c), 5_000, "logout");
  } catch {
    c.conn._doDisconnect();
  }
}

export function sendIQ(c, iq) {
  return withTimeout(
    new Promise((resolve, reject) => c.conn.sendIQ(iq, resolve, (err) => reject(new Error(`IQ failed: ${show(err)}`)))),
    STEP_TIMEOUT,
    "IQ result",
  );
}

/** The roster as {jid: subscription}. */
export async function roster(c) {
  const res = await sendIQ(c, $iq({ type: "get" }).c("query", { xmlns: ROSTER_NS }));
  const items = {};
  for (const it of Array.from(res.getElementsByTagName("item"))) {
    items[it.getAttribute("jid")] = it.getAttribute("subscription") ?? "none";
  }
  return items;
}
