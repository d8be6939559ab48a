// The test page's client: strophe.js connecting to the URL in ?service=...: BOSH for an
// http(s) URL, WebSocket (RFC 7395) for a ws:// or wss:// one (strophe chooses by the scheme).
// Driven by the test through window.tern (page.evaluate). Everything received is recorded in
// window.ternLog, which the test polls. Over BOSH, keepalive: true makes strophe keep
// {jid, sid, rid} in this tab's sessionStorage so that, after a reload, tern.restore()
// reattaches to the same BOSH session.
"use strict";

(function () {
  const { Strophe, $msg, $pres, $iq } = globalThis;
  const SERVICE = new URLSearchParams(location.search).get("service");
  const IS_BOSH = /^https?:/.test(SERVICE);
  const STATUS = Object.fromEntries(Object.entries(Strophe.Status).map(([k, v]) => [v, k]));

  const log = {
    statuses: [], // strophe connection statuses, by name
    messages: [], // {from, type, body, delayed}
    presences: [], // {from, type}
    httpErrors: [], // HTTP status codes strophe's BOSH requests failed with (0: network/CORS)
    streamOpens: [], // RFC 7395 <open/> elements: {dir: "out" | "in", xml}
    loadedAt: Date.now(),
  };
  globalThis.ternLog = log;
  const line = (s) => {
    const el = document.getElementById("log");
    if (el) el.textContent += s + "\n";
  };

  let conn = null;

  function newConnection() {
    const c = new Strophe.Connection(SERVICE, IS_BOSH ? { keepalive: true } : {});
    c.addHandler(
      (m) => {
        const body = m.getElementsByTagName("body")[0];
        if (body) {
          log.messages.push({
            from: m.getAttribute("from"),
            type: m.getAttribute("type"),
            body: body.textContent,
            delayed: m.getElementsByTagName("delay").length > 0,
          });
          line(`message from ${m.getAttribute("from")}: ${body.textContent}`);
        }
        return true;
      },
      null,
      "message",
    );
    c.addHandler(
      (p) => {
        log.presences.push({ from: p.getAttribute("from"), type: p.getAttribute("type") || "available" });
        line(`presence from ${p.getAttribute("from")}: ${p.getAttribute("type") || "available"}`);
        return true;
      },
      null,
      "presence",
    );
    const opens = (dir) => (data) => {
      if (typeof data === "string" && data.startsWith("<open ")) log.streamOpens.push({ dir, xml: data });
    };
    c.rawOutput = opens("out");
    c.rawInput = opens("in");
    c.addProtocolErrorHandler("HTTP", 0, () => log.httpErrors.push(0));
    for (const code of [400, 403, 404, 500, 502, 503]) {
      c.addProtocolErrorHandler("HTTP", code, () => log.httpErrors.push(code));
    }
    return c;
  }

  /** Resolve on one of `ok` statuses, reject on a failure status. */
  function statusPromise(ok) {
    let resolve, reject;
    const p = new Promise((res, rej) => ((resolve = res), (reject = rej)));
    const cb = (status, condition) => {
      const name = STATUS[status] ?? String(status);
      log.statuses.push(condition ? `${name}:${condition}` : name);
      line(`status ${name}${condition ? " " + condition : ""}`);
      if (ok.includes(name)) resolve(name);
      else if (["CONNFAIL", "AUTHFAIL", "DISCONNECTED", "ERROR", "CONNTIMEOUT", "BINDREQUIRED"].includes(name))
        reject(new Error(`strophe status ${name}${condition ? " (" + condition + ")" : ""}`));
    };
    return { p, cb };
  }

  globalThis.tern = {
    service: SERVICE,

    /**
     * Log in with SCRAM; resolves with {jid, sid, mechanism, websocket} once connected (sid:
     * BOSH only; websocket: the WebSocket's url and protocol, WebSocket only).
     */
    async connect(jid, password) {
      conn = newConnection();
      const { p, cb } = statusPromise(["CONNECTED"]);
      conn.connect(jid, password, cb);
      await p;
      conn.send($pres());
      const ws = conn._proto.socket;
      return {
        jid: conn.jid,
        sid: conn._proto.sid ?? null,
        mechanism: conn._sasl_mechanism?.mechname ?? null,
        websocket: ws ? { url: ws.url, protocol: ws.protocol } : null,
      };
    },

    /** Start a connection attempt without waiting for the outcome (negative tests). */
    startConnect(jid, password) {
      conn = newConnection();
      const { p, cb } = statusPromise(["CONNECTED"]);
      p.catch(() => {});
      conn.connect(jid, password, cb);
    },

    /** The cached BOSH session (strophe keepalive) in this tab's sessionStorage. */
    cachedSession() {
      return JSON.parse(sessionStorage.getItem("strophe-bosh-session"));
    },

    /** Reattach to the cached BOSH session; resolves with {jid, sid} once attached. */
    async restore(jid) {
      conn = newConnection();
      const { p, cb } = statusPromise(["ATTACHED"]);
      conn.restore(jid, cb);
      await p;
      return { jid: conn.jid, sid: conn._proto.sid };
    },

    sid() {
      return conn?._proto?.sid ?? null;
    },

    sendMessage(to, body) {
      conn.send($msg({ to, type: "chat" }).c("body").t(body));
      conn.flush();
    },

    sendPresence(to, type) {
      conn.send($pres({ to, type }));
      conn.flush();
    },

    /** An IQ round trip: resolves with the roster as [{jid, subscription}]. */
    roster() {
      return new Promise((resolve, reject) => {
        conn.sendIQ(
          $iq({ type: "get" }).c("query", { xmlns: "jabber:iq:roster" }),
          (res) =>
            resolve(
              Array.from(res.getElementsByTagName("item")).map((i) => ({
                jid: i.getAttribute("jid"),
                subscription: i.getAttribute("subscription"),
                ask: i.getAttribute("ask"),
              })),
            ),
          (err) => reject(new Error(err ? Strophe.serialize(err) : "roster IQ timed out")),
          15000,
        );
      });
    },

    disconnect() {
      if (!conn) return Promise.resolve("none");
      const { p, cb } = statusPromise(["DISCONNECTED"]);
      conn.connect_callback = cb;
      conn.disconnect("test over");
      return p.catch((e) => String(e));
    },

    /** A cross-origin GET of `url` (fetch): {ok: true, status} or {ok: false, error}. */
    async get(url) {
      try {
        const r = await fetch(url, { cache: "no-store" });
        return { ok: true, status: r.status };
      } catch (e) {
        return { ok: false, error: `${e.name}: ${e.message}` };
      }
    },

    /** A raw cross-origin POST (fetch) of a session creation body: what CORS lets through. */
    async rawFetch() {
      const body =
        `<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' ` +
        `rid='1000' to='localhost' wait='1' hold='1' ver='1.6' xmpp:version='1.0'/>`;
      try {
        const r = await fetch(SERVICE, {
          method: "POST",
          headers: { "Content-Type": "text/xml; charset=utf-8" },
          body,
        });
        return { ok: true, status: r.status, text: await r.text() };
      } catch (e) {
        return { ok: false, error: `${e.name}: ${e.message}` };
      }
    },
  };
  line(`page loaded, ${IS_BOSH ? "BOSH" : "WebSocket"} at ${SERVICE}`);
})();
