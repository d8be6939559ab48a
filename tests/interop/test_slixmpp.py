"""Interop tests: the real tern binary against slixmpp (a third-party XMPP client).

Each test starts its own tern server (binary from $TERN_BIN, default
<git toplevel>/target/debug/tern) in a temporary directory, on an ephemeral
port, serving the vhost ``localhost`` with a generated self-signed certificate.
The clients connect with STARTTLS, trust exactly that certificate file, and
authenticate with a forced SCRAM mechanism.

Run with: tests/interop/run.sh   (or: .venv/bin/python -m pytest -v here)
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import slixmpp

DOMAIN = "localhost"
STEP_TIMEOUT = 15.0  # seconds for any single protocol step
START_TIMEOUT = 30.0  # seconds for the server to start listening
ROSTER_NS = "jabber:iq:roster"
DELAY_NS = "urn:xmpp:delay"


def _default_bin() -> str:
    here = Path(__file__).resolve().parent
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=here, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        top = str(here.parent.parent)
    return str(Path(top) / "target" / "debug" / "tern")


TERN_BIN = os.environ.get("TERN_BIN") or _default_bin()
LISTEN_RE = re.compile(r"listening kind=C2s addr=127\.0\.0\.1:(\d+)")


# --------------------------------------------------------------------------- server


class TernServer:
    """One tern server process on a fixed data dir; can be stopped and restarted."""

    def __init__(self, root: Path):
        if not os.access(TERN_BIN, os.X_OK):
            raise RuntimeError(f"tern binary not found or not executable: {TERN_BIN} "
                               "(build it with `cargo build -p tern` or set TERN_BIN)")
        self.root = root
        self.data_dir = root / "data"
        self.config = root / "tern.toml"
        self.config.write_text(
            'log_level = "info"\n'
            f'data_dir = "{self.data_dir}"\n'
            "\n[[listeners]]\n"
            'kind = "c2s"\n'
            'address = "127.0.0.1:0"\n'
            "\n[[vhosts]]\n"
            f'domain = "{DOMAIN}"\n'
            "self_signed = true\n"
            'registration = "open"\n'
        )
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.runs = 0
        self.logs: list[Path] = []

    @property
    def cert(self) -> Path:
        return self.data_dir / "certs" / f"{DOMAIN}.crt"

    def _cli(self, *args: str) -> str:
        r = subprocess.run(
            [TERN_BIN, *args, "--config", str(self.config)],
            capture_output=True, text=True, timeout=60,
        )
        assert r.returncode == 0, f"tern {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        return r.stdout

    def add_user(self, user: str, password: str) -> str:
        jid = f"{user}@{DOMAIN}"
        out = self._cli("user", "add", jid, "--password", password)
        assert jid in out, out
        return jid

    def start(self) -> int:
        assert self.proc is None, "server already running"
        self.runs += 1
        log = self.root / f"server-{self.runs}.log"
        self.logs.append(log)
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(
                [TERN_BIN, "serve", "--config", str(self.config)],
                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            m = LISTEN_RE.search(log.read_text(errors="replace"))
            if m:
                self.port = int(m.group(1))
                assert self.cert.is_file(), f"no certificate at {self.cert}"
                return self.port
            if self.proc.poll() is not None:
                raise AssertionError(f"tern exited with {self.proc.returncode} before listening:\n{self.log_text()}")
            time.sleep(0.05)
        raise AssertionError(f"tern did not log a c2s listener within {START_TIMEOUT}s:\n{self.log_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        assert self.proc is not None, "server not running"
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"tern did not exit within {timeout}s of signal {sig}:\n{self.log_text()}")
        self.proc = None
        self.port = None
        return rc

    def log_text(self) -> str:
        parts = []
        for p in self.logs:
            if p.exists():
                parts.append(f"--- {p.name} ---\n{p.read_text(errors='replace')}")
        return "\n".join(parts)


@pytest.fixture
def tern(tmp_path):
    server = TernServer(tmp_path)
    yield server
    if server.proc is not None:
        server.proc.kill()
        server.proc.wait(timeout=10)
    # Shown by pytest for failing tests (captured output).
    print(server.log_text())


# --------------------------------------------------------------------------- client


class Client(slixmpp.ClientXMPP):
    """A slixmpp client that records what it receives in inboxes."""

    def __init__(self, jid: str, password: str, server: TernServer, mech: str):
        super().__init__(jid, password, sasl_mech=mech)
        self.tern = server
        self.wanted_mech = mech
        # STARTTLS on the plain c2s port only: no direct TLS, never plaintext.
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = False
        # Trust exactly the certificate tern generated for the vhost.
        self.ca_certs = server.cert
        # Subscriptions are answered explicitly by the tests.
        self.auto_authorize = None
        self.auto_subscribe = False
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        self.register_plugin("xep_0203")
        self.messages = Inbox()
        self.presences = Inbox()
        self.roster_pushes = Inbox()
        self._started: asyncio.Future = asyncio.get_running_loop().create_future()
        self.add_event_handler("session_start", self._on_start)
        self.add_event_handler("message", lambda m: self.messages.put(m))
        self.add_event_handler("presence", lambda p: self.presences.put(p))
        self.add_event_handler("roster_update", lambda iq: self.roster_pushes.put(iq))
        for ev in ("failed_all_auth", "no_auth", "connection_failed", "stream_error", "ssl_invalid_chain"):
            self.add_event_handler(ev, self._make_failer(ev))

    def _on_start(self, _event):
        if not self._started.done():
            self._started.set_result(True)

    def _make_failer(self, name):
        def fail(arg=None):
            if not self._started.done():
                self._started.set_exception(AssertionError(f"{self.boundjid.bare}: {name}: {arg}"))
        return fail

    async def login(self) -> None:
        assert self.tern.port is not None
        self.connect("127.0.0.1", self.tern.port)
        try:
            await asyncio.wait_for(self._started, STEP_TIMEOUT)
        except BaseException:
            self.abort()
            raise
        # TLS really is on, through STARTTLS, with a verified certificate.
        assert "starttls" in self.features, f"STARTTLS not negotiated: {self.features}"
        ssl_obj = self.transport.get_extra_info("ssl_object")
        assert ssl_obj is not None, "connection is not TLS"
        assert ssl_obj.version() in ("TLSv1.2", "TLSv1.3"), ssl_obj.version()
        # The SASL mechanism the server offered and the client actually used.
        offered = self.plugin["feature_mechanisms"].mech_list
        assert self.wanted_mech in offered, f"server offered {offered}"
        mech = self.plugin["feature_mechanisms"].mech
        assert mech is not None and mech.name == self.wanted_mech, (
            f"SASL mechanism used: {mech and mech.name}, wanted {self.wanted_mech}")
        assert self.boundjid.resource, "no resource bound"

    async def logout(self) -> None:
        await asyncio.wait_for(self.disconnect(), STEP_TIMEOUT)

    async def roster_items(self) -> dict[str, dict]:
        """Fetch the roster from the server (RFC 6121 §2.2): {jid: {name, subscription, ask, groups}}."""
        iq = self.make_iq_get(queryxmlns=ROSTER_NS)
        resp = await iq.send(timeout=STEP_TIMEOUT)
        assert resp["type"] == "result", resp
        query = resp.xml.find(f"{{{ROSTER_NS}}}query")
        assert query is not None, f"roster result without query: {resp}"
        items = {}
        for it in query.findall(f"{{{ROSTER_NS}}}item"):
            items[it.get("jid")] = {
                "name": it.get("name"),
                "subscription": it.get("subscription", "none"),
                "ask": it.get("ask"),
                "groups": sorted((g.text or "") for g in it.findall(f"{{{ROSTER_NS}}}group")),
            }
        return items

    async def set_roster_item(self, jid: str, name: str, groups: list[str]) -> None:
        iq = self.make_iq_set()
        query = ET.Element(f"{{{ROSTER_NS}}}query")
        item = ET.SubElement(query, f"{{{ROSTER_NS}}}item", jid=jid, name=name)
        for g in groups:
            ET.SubElement(item, f"{{{ROSTER_NS}}}group").text = g
        iq.xml.append(query)
        resp = await iq.send(timeout=STEP_TIMEOUT)
        assert resp["type"] == "result", resp

    async def ping_server(self) -> None:
        """A round trip to the server: everything sent before has been processed."""
        await self.plugin["xep_0199"].ping(jid=DOMAIN, timeout=STEP_TIMEOUT)


class Inbox:
    """Received stanzas, consumed by predicate in arrival order (nothing is dropped)."""

    def __init__(self):
        self.items: list = []
        self._arrived = asyncio.Event()

    def put(self, stanza) -> None:
        self.items.append(stanza)
        self._arrived.set()

    def take(self, pred):
        for i, st in enumerate(self.items):
            if pred(st):
                return self.items.pop(i)
        return None

    async def wait_for(self, pred, what: str, timeout: float = STEP_TIMEOUT):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            st = self.take(pred)
            if st is not None:
                return st
            self._arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                have = " | ".join(str(x) for x in self.items)
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; have: {have}")
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass


def run(coro, timeout: float = 120.0):
    """Run a scenario with an overall deadline."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def pres_from(bare: str, ptype: str):
    return lambda p: p["from"].bare == bare and p["type"] == ptype


# --------------------------------------------------------------------------- tests


def test_scram_starttls_presence_and_messages(tern):
    a_jid = tern.add_user("alice", "alice-secret")
    b_jid = tern.add_user("bob", "bob-secret")
    tern.start()

    async def scenario():
        a = Client(a_jid, "alice-secret", tern, "SCRAM-SHA-256")
        b = Client(b_jid, "bob-secret", tern, "SCRAM-SHA-1")
        await a.login()
        await b.login()
        try:
            a.send_presence()
            b.send_presence()

            # A asks to see B's presence; B approves and asks back; A approves.
            a.send_presence(pto=b_jid, ptype="subscribe")
            await b.presences.wait_for(pres_from(a_jid, "subscribe"), "subscribe from alice at bob")
            b.send_presence(pto=a_jid, ptype="subscribed")
            await a.presences.wait_for(pres_from(b_jid, "subscribed"), "subscribed from bob at alice")
            # RFC 6121 §3.1.6 / §4.3.2: once subscribed, A gets B's current presence.
            pb = await a.presences.wait_for(pres_from(b_jid, "available"), "bob's available presence at alice")
            assert pb["from"] == b.boundjid, (pb["from"], b.boundjid)

            b.send_presence(pto=a_jid, ptype="subscribe")
            await a.presences.wait_for(pres_from(b_jid, "subscribe"), "subscribe from bob at alice")
            a.send_presence(pto=b_jid, ptype="subscribed")
            await b.presences.wait_for(pres_from(a_jid, "subscribed"), "subscribed from alice at bob")
            pa = await b.presences.wait_for(pres_from(a_jid, "available"), "alice's available presence at bob")
            assert pa["from"] == a.boundjid, (pa["from"], a.boundjid)

            # Both rosters on the server say "both".
            ra = await a.roster_items()
            rb = await b.roster_items()
            assert ra.get(b_jid, {}).get("subscription") == "both", ra
            assert rb.get(a_jid, {}).get("subscription") == "both", rb

            # Messages both ways, to the bare JID.
            body1 = f"hello bob {uuid.uuid4()}"
            a.send_message(mto=b_jid, mbody=body1, mtype="chat")
            m = await b.messages.wait_for(lambda m: m["body"] == body1, "alice's message at bob")
            assert m["from"] == a.boundjid and m["type"] == "chat", m
            assert m["to"].bare == b_jid, m

            body2 = f"hi alice {uuid.uuid4()}"
            b.send_message(mto=m["from"], mbody=body2, mtype="chat")
            m2 = await a.messages.wait_for(lambda m: m["body"] == body2, "bob's reply at alice")
            assert m2["from"] == b.boundjid and m2["type"] == "chat", m2
            assert m2["to"] == a.boundjid, m2

            # A goes away: B sees it unavailable.
            await a.logout()
            await b.presences.wait_for(pres_from(a_jid, "unavailable"), "alice's unavailable presence at bob")
        finally:
            for c in (a, b):
                if c.transport is not None:
                    c.abort()

    run(scenario())


def test_roster_survives_restart(tern):
    a_jid = tern.add_user("alice", "alice-secret")
    c_jid = f"carol@{DOMAIN}"
    tern.start()

    async def add_contact():
        a = Client(a_jid, "alice-secret", tern, "SCRAM-SHA-256")
        await a.login()
        try:
            # Requesting the roster makes this an "interested resource" (RFC 6121 §2.1.6)...
            assert c_jid not in await a.roster_items()
            await a.set_roster_item(c_jid, "Carol C.", ["Friends", "Work"])
            # ...so the server pushes the change to it.
            push = await a.roster_pushes.wait_for(lambda iq: c_jid in iq["roster"]["items"], "roster push")
            pushed = push["roster"]["items"][c_jid]
            assert pushed["name"] == "Carol C.", pushed
            assert sorted(pushed["groups"]) == ["Friends", "Work"], pushed
            items = await a.roster_items()
            assert items.get(c_jid, {}).get("name") == "Carol C.", items
            await a.logout()
        finally:
            if a.transport is not None:
                a.abort()

    run(add_contact())

    rc = tern.stop(signal.SIGTERM)
    assert rc == 0, f"tern exited with {rc} on SIGTERM:\n{tern.log_text()}"
    tern.start()

    async def check():
        a = Client(a_jid, "alice-secret", tern, "SCRAM-SHA-256")
        await a.login()
        try:
            items = await a.roster_items()
            assert c_jid in items, f"roster item lost across restart: {items}"
            item = items[c_jid]
            assert item["name"] == "Carol C.", item
            assert item["groups"] == ["Friends", "Work"], item
            assert item["subscription"] == "none", item
            await a.logout()
        finally:
            if a.transport is not None:
                a.abort()

    run(check())


def test_offline_message_survives_sigkill(tern):
    a_jid = tern.add_user("alice", "alice-secret")
    b_jid = tern.add_user("bob", "bob-secret")
    tern.start()
    body = f"while you were away {uuid.uuid4()}"

    async def send_then_kill():
        a = Client(a_jid, "alice-secret", tern, "SCRAM-SHA-256")
        await a.login()
        try:
            a.send_presence()
            a.send_message(mto=b_jid, mbody=body, mtype="chat")
            # Round trip after the message: the server has processed (stored) it.
            await a.ping_server()
            await asyncio.sleep(0.2)
            bounce = a.messages.take(lambda m: m["type"] == "error")
            assert bounce is None, f"message to offline bob bounced: {bounce}"
            # The server dies with alice still connected: no clean shutdown, no flush.
            rc = tern.stop(signal.SIGKILL)
            assert rc == -signal.SIGKILL, rc
        finally:
            a.abort()

    sent_at = time.time()
    run(send_then_kill())
    tern.start()

    async def receive():
        b = Client(b_jid, "bob-secret", tern, "SCRAM-SHA-1")
        await b.login()
        try:
            # Offline messages come with the initial presence (RFC 6121 §8.5.2.2.1 / XEP-0160).
            assert not b.messages.items, f"message before initial presence: {b.messages.items}"
            b.send_presence()
            m = await b.messages.wait_for(lambda m: m["body"] == body, "the offline message at bob")
            assert m["from"].bare == a_jid, m
            assert m["type"] == "chat", m
            delay = m.xml.find(f"{{{DELAY_NS}}}delay")
            assert delay is not None, f"offline message without XEP-0203 delay: {m}"
            assert delay.get("from") == DOMAIN, ET.tostring(delay)
            stamp = m["delay"]["stamp"]
            assert stamp is not None, ET.tostring(delay)
            assert abs(stamp.timestamp() - sent_at) < 120, (stamp, sent_at)
            await b.logout()
        finally:
            if b.transport is not None:
                b.abort()

        # Delivered once: a second login gets nothing more.
        b2 = Client(b_jid, "bob-secret", tern, "SCRAM-SHA-1")
        await b2.login()
        try:
            b2.send_presence()
            await b2.ping_server()
            await asyncio.sleep(0.5)
            again = b2.messages.take(lambda m: m["body"] == body)
            assert again is None, f"offline message delivered twice: {again}"
            await b2.logout()
        finally:
            if b2.transport is not None:
                b2.abort()

    run(receive())
