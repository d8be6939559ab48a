-- tern-store initial schema (PostgreSQL). Keep in step with ../sqlite/0001_initial.sql.
-- Never edit an applied migration: add a new numbered file instead.
-- Text keys use COLLATE "C": byte-order sorting, like SQLite, whatever the locale.

-- Accounts, keyed by (vhost, username). SCRAM credentials only, never a password.
-- roster_version is the account's XEP-0237 roster version. Iteration counts are
-- u32, hence BIGINT.
CREATE TABLE accounts (
    vhost             TEXT COLLATE "C" NOT NULL,
    username          TEXT COLLATE "C" NOT NULL,
    sha1_salt         BYTEA  NOT NULL,
    sha1_iterations   BIGINT NOT NULL,
    sha1_stored_key   BYTEA  NOT NULL,
    sha1_server_key   BYTEA  NOT NULL,
    sha256_salt       BYTEA  NOT NULL,
    sha256_iterations BIGINT NOT NULL,
    sha256_stored_key BYTEA  NOT NULL,
    sha256_server_key BYTEA  NOT NULL,
    roster_version    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (vhost, username)
);

-- RFC 6121 §2 roster items. groups: length-prefixed list (see types.rs).
CREATE TABLE roster_items (
    vhost        TEXT COLLATE "C" NOT NULL,
    username     TEXT COLLATE "C" NOT NULL,
    contact      TEXT COLLATE "C" NOT NULL,
    name         TEXT,
    subscription TEXT    NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
    ask          BOOLEAN NOT NULL DEFAULT FALSE,
    groups       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (vhost, username, contact),
    FOREIGN KEY (vhost, username) REFERENCES accounts (vhost, username) ON DELETE CASCADE
);

-- RFC 6121 §3.1.3 inbound subscription requests awaiting the user's approval.
CREATE TABLE pending_in (
    vhost    TEXT COLLATE "C" NOT NULL,
    username TEXT COLLATE "C" NOT NULL,
    contact  TEXT COLLATE "C" NOT NULL,
    stanza   TEXT NOT NULL,
    PRIMARY KEY (vhost, username, contact),
    FOREIGN KEY (vhost, username) REFERENCES accounts (vhost, username) ON DELETE CASCADE
);

-- RFC 6121 §8.5.2.2.1 / XEP-0160 offline messages. Identity ids are never reused.
CREATE TABLE offline_messages (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vhost    TEXT COLLATE "C" NOT NULL,
    username TEXT COLLATE "C" NOT NULL,
    stanza   TEXT   NOT NULL,
    stamp_ms BIGINT NOT NULL,
    FOREIGN KEY (vhost, username) REFERENCES accounts (vhost, username) ON DELETE CASCADE
);
CREATE INDEX offline_messages_user ON offline_messages (vhost, username, id);

-- XEP-0191 block lists.
CREATE TABLE blocklist (
    vhost    TEXT COLLATE "C" NOT NULL,
    username TEXT COLLATE "C" NOT NULL,
    jid      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (vhost, username, jid),
    FOREIGN KEY (vhost, username) REFERENCES accounts (vhost, username) ON DELETE CASCADE
);
