#!/usr/bin/env python3
"""Writes the committed seed inputs under fuzz/seeds/<target>/.

Re-run after changing an input layout of a fuzz target:
    python3 fuzz/gen_seeds.py
Inputs that once crashed a target are not generated here: they live in
seeds/<target>/regression-* and known-upstream-*, and are kept as they are.
"""

import base64
import hashlib
import hmac
from pathlib import Path

SEEDS = Path(__file__).resolve().parent / "seeds"

# --- stream_framer: [ctl][n][n chunk lengths][payload] ---------------------
# ctl bit 0: small limits, bit 1: a valid stream header is prepended.

HEADER = (
    b"<?xml version='1.0'?><stream:stream to='example.com' version='1.0' "
    b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
)


def framer(ctl: int, lens: list[int], payload: bytes) -> bytes:
    return bytes([ctl, len(lens)] + lens) + payload


STREAM_FRAMER = {
    "client-stream": framer(
        0,
        [],
        HEADER
        + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
        + b"</stream:stream>",
    ),
    "server-stream-no-decl": framer(
        0,
        [5, 1, 0, 64],
        b"<stream:stream xmlns='jabber:server' xmlns:stream="
        b"'http://etherx.jabber.org/streams' from='a.example' to='b.example' "
        b"version='1.0'><db:result xmlns:db='jabber:server:dialback' "
        b"from='a.example' to='b.example'>abc</db:result>",
    ),
    "message": framer(
        2,
        [],
        b"<message to='romeo@example.net/orchard' type='chat' id='m1'>"
        b"<body>Art thou not Romeo, &amp; a Montague?</body>"
        b"<thread>e0ffe42b</thread></message>",
    ),
    "auth-and-whitespace": framer(
        3,
        [1, 7, 0],
        b" <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>"
        b"biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM</auth>\n\n "
        b"<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>"
        b"<presence><show>away</show><status>\xc3\xa9t\xc3\xa9</status></presence>"
        b"</stream:stream>",
    ),
    "prefixed-stanza": framer(
        2,
        [3],
        b"<x:iq xmlns:x='jabber:client' type='set' id='b1'>"
        b"<block xmlns='urn:xmpp:blocking'><item jid='x@y'/></block></x:iq>",
    ),
}

# --- scram_server: [selector][client-first] 0xFF [client-final] -------------
# selector bit 0: SCRAM-SHA-1, bit 1: unknown user, bit 2: empty initial
# response. Must match fuzz_targets/scram_server.rs.

PASSWORD = b"pencil"
SALTS = {"sha1": b"tern-fuzz-salt-1", "sha256": b"tern-fuzz-salt-2"}
ITERATIONS = 4096
SERVER_NONCE = "SERVERNONCE"


def scram_final(hash_name: str, first: str, channel_binding: bytes, proof_ok=True) -> str:
    """client-final-message answering `first` (after its gs2 header)."""
    gs2_end = first.index(",", first.index(",") + 1) + 1
    bare = first[gs2_end:]
    client_nonce = dict(kv.split("=", 1) for kv in bare.split(","))["r"]
    nonce = client_nonce + SERVER_NONCE
    salt = SALTS[hash_name]
    server_first = f"r={nonce},s={base64.b64encode(salt).decode()},i={ITERATIONS}"
    without_proof = f"c={base64.b64encode(channel_binding).decode()},r={nonce}"
    auth_message = f"{bare},{server_first},{without_proof}".encode()
    salted = hashlib.pbkdf2_hmac(hash_name, PASSWORD, salt, ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hash_name).digest()
    stored_key = hashlib.new(hash_name, client_key).digest()
    signature = hmac.new(stored_key, auth_message, hash_name).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    if not proof_ok:
        proof = bytes([proof[0] ^ 1]) + proof[1:]
    return f"{without_proof},p={base64.b64encode(proof).decode()}"


def scram(selector: int, first: str, final: str | None = None) -> bytes:
    hash_name = "sha1" if selector & 1 else "sha256"
    if final is None:
        gs2 = first[: first.index(",", first.index(",") + 1) + 1]
        final = scram_final(hash_name, first, gs2.encode())
    return bytes([selector]) + first.encode() + b"\xff" + final.encode()


FIRST = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
SCRAM_SERVER = {
    "sha256-valid": scram(0, FIRST),
    "sha1-valid": scram(1, FIRST),
    "sha256-unknown-user": scram(2, FIRST),
    "sha256-empty-initial-valid": scram(4, FIRST),
    "authzid-y-flag-valid": scram(0, "y,a=user@example.com,n=user,r=abcdefgh"),
    "escaped-username-valid": scram(1, "n,,n=u=2Cs=3Der,r=Zm9v"),
    "wrong-proof": scram(
        0, FIRST, scram_final("sha256", FIRST, b"n,,", proof_ok=False)
    ),
    "client-first-only": bytes([0]) + b"n,,n=\xc3\xa9l\xc3\xa8ve,r=x",
}

# --- jid: one string ------------------------------------------------------

JID = {
    "bare": "juliet@example.com",
    "full": "juliet@example.com/balcony",
    "domain": "example.com",
    "domain-resource": "example.com/orchard",
    "ipv6": "[::1]/r",
    "ipv4": "node@127.0.0.1",
    "unicode": "\u00c9lise@\u00c9xample.COM./R\u00e9sum\u00e9 \u2163",
    "idn": "user@xn--bcher-kva.example/x@y/z",
    "invalid-ats": "a@b@c",
    "invalid-empty-parts": "@example.com/",
    "trailing-dot-bare": "juliet@example.com.",
}


# ws_frames: [split][client frames]; frames masked as RFC 6455 §5.3 requires, except
# where a seed shows a violation.
WS_MASK = bytes([0x12, 0x34, 0x56, 0x78])


def ws_frame(fin: bool, opcode: int, payload: bytes, masked: bool = True) -> bytes:
    out = bytearray([(0x80 if fin else 0) | opcode])
    n, bit = len(payload), (0x80 if masked else 0)
    if n < 126:
        out.append(bit | n)
    elif n <= 0xFFFF:
        out += bytes([bit | 126]) + n.to_bytes(2, "big")
    else:
        out += bytes([bit | 127]) + n.to_bytes(8, "big")
    if masked:
        out += WS_MASK + bytes(b ^ WS_MASK[i % 4] for i, b in enumerate(payload))
    else:
        out += payload
    return bytes(out)


FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
WS_FRAMES = {
    "open": b"\x03" + ws_frame(True, 1, f"<open xmlns='{FRAMING}' to='localhost' version='1.0'/>".encode()),
    "stanzas": b"\x07"
    + ws_frame(True, 1, "<message to='a@b' type='chat'><body>hi &amp; \u00e9</body></message>".encode())
    + ws_frame(True, 9, b"p")
    + ws_frame(True, 1, b"<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"),
    "fragmented": b"\x02"
    + ws_frame(False, 1, b"<presence><sta")
    + ws_frame(True, 10, b"")
    + ws_frame(False, 0, b"tus>away</st")
    + ws_frame(True, 0, b"atus></presence>"),
    "close": b"\x00" + ws_frame(True, 1, f"<close xmlns='{FRAMING}'/>".encode()) + ws_frame(True, 8, b"\x03\xe8bye"),
    "medium": b"\x0f" + ws_frame(True, 1, b"<message><body>" + b"x" * 300 + b"</body></message>"),
    "unmasked": b"\x01" + ws_frame(True, 1, b"<presence/>", masked=False),
    "binary": b"\x05" + ws_frame(True, 2, b"\x00\x01\x02"),
    "stream": b"\x04"
    + ws_frame(True, 1, b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='a'>"),
}


def write(target: str, seeds: dict) -> None:
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode()
        (d / name).write_bytes(data)


if __name__ == "__main__":
    write("stream_framer", STREAM_FRAMER)
    write("scram_server", SCRAM_SERVER)
    write("jid", JID)
    write("ws_frames", WS_FRAMES)
    print(f"seeds written under {SEEDS}")
