// Browser tests: strophe.js in Debian's headless Chromium (driven by playwright-core) against
// the real tern binary over BOSH (XEP-0124/0206), cross-origin.
//
// Run with tests/browser/run.sh (or `node --test` here after `cargo build -p tern`,
// `npm ci` and `apt-get install chromium`). The test page (page/) and strophe.js are served
// by a small Node server at http://localhost:PAGEPORT; tern's BOSH endpoint is at
// http://127.0.0.1:BOSHPORT/http-bind: another host and port, so Chromium sends real CORS
// preflights. Each scenario has its own tern server, site and browser; its steps are
// subtests, and a step after a failed one is skipped.
//
//  * chat and reload, with `[http] cors_origins` listing the page's origin, and again with
//    the default (any origin): two users in two browser contexts log in with SCRAM,
//    subscribe to each other and exchange messages; then A's page reloads while B sends a
//    message, and after the reload A restores the same BOSH session (strophe keepalive +
//    restore(): same sid) and must receive that message: nothing lost.
//  * CORS refused: with cors_origins not listing the page's origin, the browser blocks the
//    page's BOSH requests (fetch fails, strophe sees HTTP status 0, Chromium reports a CORS
//    error), although tern itself answers.

import assert from "node:assert/strict";

import { scenario, openPage, waitInPage, gotMessage, gotPresence, header, until, sleep, withTimeout, STEP } from "./harness.mjs";

/** Wait until the page has exactly one BOSH request in flight, for at least `quietMs`. */
function heldRequest(p, boshUrl, quietMs = 700) {
  return until(
    () => {
      const pending = new Map();
      for (const e of p.net.events) {
        if (e.ev === "Network.requestWillBeSent") {
          if (e.type === "XHR" && e.request.url === boshUrl) pending.set(e.requestId, e);
        } else pending.delete(e.requestId);
      }
      const [only, ...more] = pending.values();
      return only && more.length === 0 && Date.now() - only.at >= quietMs ? only : null;
    },
    STEP,
    `${p.who}: a held BOSH request`,
  );
}

// ----------------------------------------------------------------- chat and reload

const DURING = "sent while alice was reloading";

function chatAndReload({ restricted }) {
  return [
    [
      "two users log in with SCRAM over cross-origin BOSH from two browser pages (CORS preflighted)",
      async (s) => {
        s.A = s.server.addUser("alice", "alice-pw-1");
        s.B = s.server.addUser("bob", "bob-pw-2");
        await s.server.start();
        const url = s.site.pageUrl(s.server.boshUrl);
        s.a = await openPage(s, "A", url);
        s.b = await openPage(s, "B", url);
        [s.la, s.lb] = await Promise.all([
          s.a.page.evaluate(([j, p]) => tern.connect(j, p), [s.A, "alice-pw-1"]),
          s.b.page.evaluate(([j, p]) => tern.connect(j, p), [s.B, "bob-pw-2"]),
        ]);
        for (const [l, jid] of [[s.la, s.A], [s.lb, s.B]]) {
          assert.equal(l.jid.split("/")[0], jid, "bound JID");
          assert.ok(l.jid.includes("/"), `full JID bound: ${l.jid}`);
          assert.match(l.mechanism, /^SCRAM-SHA-/, "SASL mechanism");
          assert.ok(l.sid, "BOSH sid");
        }
        assert.notEqual(s.la.sid, s.lb.sid);
        // Chromium preflighted the cross-origin BOSH POSTs, and tern's CORS headers name the
        // page's origin (cors_origins) or any origin (the default).
        const want = restricted ? s.site.origin : "*";
        for (const p of [s.a, s.b]) {
          const answered = p.net.events.filter(
            (e) => e.ev === "Network.responseReceived" && e.response.url === s.server.boshUrl,
          );
          const preflights = answered.filter((e) => e.type === "Preflight");
          const posts = answered.filter((e) => e.type === "XHR");
          assert.ok(preflights.length >= 1, `${p.who}: a CORS preflight (OPTIONS) was sent and answered`);
          assert.equal(preflights[0].response.status, 204, "preflight status");
          assert.ok(posts.length >= 3, `${p.who}: BOSH POSTs answered (${posts.length})`);
          for (const r of [...preflights, ...posts]) {
            assert.equal(header(r.response, "access-control-allow-origin"), want, `${p.who}: Access-Control-Allow-Origin`);
          }
        }
      },
    ],
    [
      "presence subscription both ways",
      async ({ a, b, A, B }) => {
        await a.page.evaluate((to) => tern.sendPresence(to, "subscribe"), B);
        await waitInPage(b, "subscribe from A", gotPresence, { from: A, type: "subscribe" });
        await b.page.evaluate((to) => (tern.sendPresence(to, "subscribed"), tern.sendPresence(to, "subscribe")), A);
        await waitInPage(a, "subscribe from B", gotPresence, { from: B, type: "subscribe" });
        await a.page.evaluate((to) => tern.sendPresence(to, "subscribed"), B);
        await waitInPage(a, "B's available presence", gotPresence, { from: B, type: "available" });
        await waitInPage(b, "A's available presence", gotPresence, { from: A, type: "available" });
        for (const [p, other] of [[a, B], [b, A]]) {
          const roster = await until(
            async () => {
              const r = await p.page.evaluate(() => tern.roster());
              return r.find((i) => i.jid === other && i.subscription === "both") ? r : null;
            },
            STEP,
            `${p.who}: roster item ${other} with subscription "both"`,
          );
          assert.equal(roster.length, 1, `${p.who}: roster ${JSON.stringify(roster)}`);
        }
      },
    ],
    [
      "messages both ways",
      async ({ a, b, A, B }) => {
        await a.page.evaluate((to) => tern.sendMessage(to, "hello bob, from alice's browser"), B);
        await waitInPage(b, "A's message", gotMessage, { from: A, body: "hello bob, from alice's browser" });
        await b.page.evaluate((to) => tern.sendMessage(to, "hi alice, bob here"), A);
        await waitInPage(a, "B's message", gotMessage, { from: B, body: "hi alice, bob here" });
      },
    ],
    [
      "A's page reloads while B sends a message; A restores the same BOSH session (same sid)",
      async (s) => {
        const { a, b, A, site, server } = s;
        const cached = await a.page.evaluate(() => tern.cachedSession());
        assert.equal(cached?.sid, s.la.sid, "strophe keepalive cached the BOSH session in sessionStorage");
        // Reload while A's page has a request held by tern (an idle page's usual state).
        await heldRequest(a, server.boshUrl);
        const logBefore = server.log().length;
        // Hold the reloaded document's app.js: once it is requested, the old document (and
        // its strophe) is gone, and A has no client at all until it is released.
        const gate = site.hold("/app.js");
        const reloaded = a.page.reload({ waitUntil: "load", timeout: 60_000 });
        reloaded.catch(() => {}); // awaited below
        await withTimeout(gate.arrived, STEP, "the reloaded page requesting app.js");
        // Chromium cancelled the old document's held BOSH request and closed its connection;
        // wait until tern has seen that close (it logs it at debug), so that B's message
        // surely arrives after it. (If that log line ever changes, this waits 10 s instead.)
        await until(
          () => server.log().slice(logBefore).includes("connection closed before message completed"),
          10_000,
          "",
        ).catch(() => s.console.push("[test] tern did not log the close of the cancelled request"));
        await b.page.evaluate(([to, body]) => tern.sendMessage(to, body), [A, DURING]);
        // An IQ round trip after it: tern has taken the message from B's session.
        await b.page.evaluate(() => tern.roster());
        await sleep(300);
        gate.release();
        await reloaded;
        const fresh = await a.page.evaluate(() => ({ log: globalThis.ternLog, cached: tern.cachedSession() }));
        assert.equal(fresh.log.messages.length, 0, "a fresh document");
        assert.equal(fresh.cached?.sid, s.la.sid, "the cached BOSH session survived the reload");
        const restored = await a.page.evaluate((jid) => tern.restore(jid), A);
        assert.equal(restored.sid, s.la.sid, "the same BOSH session (sid) after the reload");
        assert.equal(restored.jid, s.la.jid, "the same full JID after the reload");
      },
    ],
    [
      "after the reload, messages flow both ways on the restored session",
      async ({ a, b, A, B }) => {
        await a.page.evaluate((to) => tern.sendMessage(to, "back again"), B);
        await waitInPage(b, "A's message after the reload", gotMessage, { from: A, body: "back again" });
        await b.page.evaluate((to) => tern.sendMessage(to, "welcome back"), A);
        await waitInPage(a, "B's message after the reload", gotMessage, { from: B, body: "welcome back" });
        const seenByB = (await b.page.evaluate(() => globalThis.ternLog.messages)).map((x) => x.body);
        assert.deepEqual(seenByB, ["hello bob, from alice's browser", "back again"], "B: each message once");
      },
    ],
    [
      "the message B sent during A's reload reached A after the restore: nothing lost",
      async ({ a }) => {
        // Sent before "welcome back", which has arrived: it arrives first, or never.
        const bodies = (await a.page.evaluate(() => globalThis.ternLog.messages)).map((x) => x.body);
        assert.deepEqual(
          bodies,
          [DURING, "welcome back"],
          "A after the reload: the message sent during the reload, then the later one, each once. " +
            "If it is missing: tern answered the reloaded page's held BOSH request (whose connection " +
            "Chromium had closed, as the server log shows) with it, and strophe's restore() continues " +
            "with the next rid, so that response is never received",
        );
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
  ];
}

scenario(
  "chromium, cors_origins = [page origin]: chat over cross-origin BOSH, reload restores the session",
  (s) => ({ corsOrigins: ["http://elsewhere.example", s.site.origin] }),
  chatAndReload({ restricted: true }),
);

scenario(
  "chromium, default CORS (any origin): chat over cross-origin BOSH, reload restores the session",
  {},
  chatAndReload({ restricted: false }),
);

// ----------------------------------------------------------------- CORS refused

scenario("chromium: BOSH from an origin not in cors_origins is blocked by the browser", { corsOrigins: ["http://elsewhere.example"] }, [
  [
    "fetch() of a BOSH body fails with a CORS error; tern answered the preflight without allowing the origin",
    async (s) => {
      s.A = s.server.addUser("alice", "alice-pw-1");
      await s.server.start();
      s.a = await openPage(s, "A", s.site.pageUrl(s.server.boshUrl));
      const r = await s.a.page.evaluate(() => tern.rawFetch());
      assert.equal(r.ok, false, `the cross-origin fetch must fail: ${JSON.stringify(r)}`);
      assert.match(r.error, /^TypeError: Failed to fetch/);
      const failure = await until(
        () => s.a.net.events.find((e) => e.ev === "Network.loadingFailed" && e.corsErrorStatus),
        STEP,
        "Chromium reports a CORS error",
      );
      assert.match(failure.corsErrorStatus.corsError, /AllowOrigin/, JSON.stringify(failure.corsErrorStatus));
      const pre = s.a.net.events.find((e) => e.ev === "Network.responseReceived" && e.type === "Preflight");
      assert.ok(pre, "the preflight reached tern and was answered");
      assert.equal(header(pre.response, "access-control-allow-origin"), undefined, "no Access-Control-Allow-Origin");
    },
  ],
  [
    "strophe.js cannot connect: its BOSH request fails with HTTP status 0",
    async ({ a, A }) => {
      await a.page.evaluate(([j, p]) => tern.startConnect(j, p), [A, "alice-pw-1"]);
      await waitInPage(a, "strophe's BOSH request failing with status 0", (log) => log.httpErrors.includes(0));
      const log = await a.page.evaluate(() => globalThis.ternLog);
      assert.ok(!log.statuses.includes("CONNECTED"), `never connected: ${log.statuses}`);
    },
  ],
  [
    "control: tern answers a listed origin's preflight with that origin",
    async ({ server, site }) => {
      const ask = (origin) =>
        fetch(server.boshUrl, {
          method: "OPTIONS",
          headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
        });
      assert.equal((await ask(site.origin)).headers.get("access-control-allow-origin"), null);
      assert.equal((await ask("http://elsewhere.example")).headers.get("access-control-allow-origin"), "http://elsewhere.example");
    },
  ],
]);
