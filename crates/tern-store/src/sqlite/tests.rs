//! SQLite backend tests: the conformance suite on a temporary file, the
//! connection settings, persistence across reopening, and durability of committed
//! writes when the process is killed with SIGKILL.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use super::SqliteStore;
use crate::conformance::{creds, item};
use crate::{Store, Subscription};

#[tokio::test]
async fn conformance() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("tern.db"))
        .await
        .unwrap();
    crate::conformance::run(&store).await;
}

#[tokio::test]
async fn settings_applied() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("a/b/tern.db"))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(fk, 1);
}

#[tokio::test]
async fn reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tern.db");
    let store = SqliteStore::open(&path).await.unwrap();
    crate::conformance::populate(&store).await;
    // Drop without close(): committed data must already be on disk.
    drop(store);
    let store = SqliteStore::open(&path).await.unwrap();
    crate::conformance::check_populated(&store).await;
    store.close().await;
    // Opening runs migrations again, which must be a no-op.
    let store = SqliteStore::open(&path).await.unwrap();
    crate::conformance::check_populated(&store).await;
    assert!(store.delete_account("example.org", "romeo").await.unwrap());
}

#[tokio::test]
async fn open_store_dispatch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let url = format!("sqlite:{}", path.display());
    let store = crate::open_store(&url).await.unwrap();
    crate::conformance::populate(store.as_ref()).await;
    drop(store);
    // A plain path opens the same file.
    let store = crate::open_store(path.to_str().unwrap()).await.unwrap();
    crate::conformance::check_populated(store.as_ref()).await;
    let mem = crate::open_store("memory:").await.unwrap();
    assert!(mem.list_accounts("example.org").await.unwrap().is_empty());
    assert!(crate::open_store("sqlite:").await.is_err());
}

const CRASH_DB_VAR: &str = "TERN_STORE_SIGKILL_DB";
const VH: &str = "example.org";

/// Child half of [`sigkill_keeps_committed_writes`]: commits roster changes and
/// offline messages in a loop, printing `committed N` after each, until killed.
#[tokio::test]
#[ignore = "helper process, spawned by sigkill_keeps_committed_writes"]
async fn sigkill_child() {
    let Ok(path) = std::env::var(CRASH_DB_VAR) else {
        return;
    };
    let store = SqliteStore::open(Path::new(&path)).await.unwrap();
    for n in 0..100_000_i64 {
        let it = item(
            &format!("c{n:06}@example.org"),
            Subscription::None,
            false,
            &["g"],
        );
        store.roster_put(VH, "crash", &it).await.unwrap();
        store
            .offline_push(VH, "crash", &format!("<message id='{n}'/>"), n)
            .await
            .unwrap();
        println!("committed {n}");
    }
}

/// A write that returned must survive SIGKILL, and a transaction cut short by it
/// must leave nothing behind (roster version and items stay consistent).
#[tokio::test]
async fn sigkill_keeps_committed_writes() {
    const TARGET: i64 = 150;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.create_account(VH, "crash", &creds(1)).await.unwrap();
    store.close().await;

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sqlite::tests::sigkill_child",
            "--ignored",
            "--nocapture",
        ])
        .env(CRASH_DB_VAR, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut last = -1;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(n) = line.unwrap().strip_prefix("committed ") {
            last = n.parse().unwrap();
            if last >= TARGET {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL, possibly mid-transaction
    child.wait().unwrap();
    assert!(last >= TARGET, "child stopped early after {last}");

    let store = SqliteStore::open(&path).await.unwrap();
    let (version, items) = store.roster(VH, "crash").await.unwrap();
    let n_items = i64::try_from(items.len()).unwrap();
    assert!(
        n_items > last,
        "lost committed roster items: {n_items} <= {last}"
    );
    assert_eq!(
        version,
        items.len() as u64,
        "version bump and item are atomic"
    );
    let msgs = store.offline_peek(VH, "crash").await.unwrap();
    assert!(
        i64::try_from(msgs.len()).unwrap() > last,
        "lost committed messages"
    );
    for (n, m) in msgs.iter().enumerate() {
        assert_eq!(m.stanza, format!("<message id='{n}'/>"));
    }
}
