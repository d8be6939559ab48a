-- tern-store initial schema (SQLite). Keep in step with ../postgres/0001_initial.sql.
-- Never edit an applied migration: add a new numbered file instead.

-- Accounts, keyed by (vhost, username). SCRAM credentials only, never a password.
-- roster_version is the account's XEP-0237 roster version.
CREATE TABLE accounts (
    vhost             TEXT    NOT NULL,
    username          TEXT    NOT NULL,
    sha1_salt         BLOB    NOT NULL,
    sha1_iterations   INTEGER NOT NULL,
    sha1_stored_key   BLOB    NOT NULL,
    sha1_server_key   BLOB    NOT NULL,
    sha256_salt       BLOB    NOT NULL,
    sha256_iterations INTEGER NOT NULL,
    sha256_stored_key BLOB    NOT NULL,
    sha256_server_key BLOB    NOT NULL,
    roster_version    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (vhost, username)
);

-- RFC 6121 §2 roster items. groups: length-prefixed list (see types.rs).
CREATE TABLE roster_items (
    vhost        TEXT    NOT NULL,
    username     TEXT    NOT NULL,
    contact      TEXT    NOT NULL,
    name         TEXT,
    subscription TEXT    NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
    ask          BOOLEAN NOT NULL DEFAULT 0,
    groups       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (vhost, username, contact),
    FOREIGN KEY (vhost, username) REFERENCES accounts (vhost, username) ON DELETE CASCADE
);

-- RFC 6121 §3.1.3 inbound subscription requests awaiting the user's approval.
CREATE TABLE pending_in (
    vhost    TEXT NOT NULL,
    username TEXT NOT NULL,
    contact  TEXT NOT NULL,
    stanza   TEXT NOT NULL,
    PRIMARY KEY (vhost, username, contact),
    FOREIGN KEY (vhost, username) REFERENCES accounts (vhost, username) ON DELETE CASCADE
);

-- RFC 6121 §8.5.2.2.1 / XEP-0160 offline messages. AUTOINCREMENT: ids are never
-- reused, so a stale offline_delete(up_to_id) can't hit a newer message.
CREATE TABLE offline_messages (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    vhost    TEXT    NOT NULL,
    username TEXT    NOT NULL,
    stanza   TEXT    NOT NULL,
    stamp_ms INTEGER NOT NULL,
    FOREIGN KEY (vhost, username) REFERENCES accounts (vhost, username) ON DELETE CASCADE
);
CREATE INDEX offline_messages_user ON offline_messages (vhost, username, id);

-- XEP-0191 block lists.
CREATE TABLE blocklist (
    vhost    TEXT NOT NULL,
    username TEXT NOT NULL,
    jid      TEXT NOT NULL,
    PRIMARY KEY (vhost, username, jid),
    FOREIGN KEY (vhost, username) REFERENCES accounts (vhost, username) ON DELETE CASCADE
);
