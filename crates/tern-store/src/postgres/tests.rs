//! PostgreSQL backend tests, against the server named by `TERN_TEST_PG_URL` (see
//! `scripts/pg-test-server.sh`). Each test creates its own randomly named database
//! through that URL and drops it afterwards, so runs never collide.
//!
//! Without `TERN_TEST_PG_URL` the tests print "skipped: TERN_TEST_PG_URL unset" and
//! pass — unless `TERN_REQUIRE_PG=1`, in which case they fail (CI sets both).

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use super::PgStore;
use crate::Store;

/// The admin URL, or `None` (after printing why) if the tests are to be skipped.
fn admin_url(test: &str) -> Option<String> {
    match std::env::var("TERN_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let required = std::env::var("TERN_REQUIRE_PG").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "TERN_REQUIRE_PG=1 but TERN_TEST_PG_URL is unset \
                 (start a server with: eval \"$(bash scripts/pg-test-server.sh)\")"
            );
            println!("{test}: skipped: TERN_TEST_PG_URL unset");
            None
        }
    }
}

/// A database name unique to this process and call.
fn fresh_db_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "tern_t_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with its database (path) replaced by `db`; user, password, host, port and
/// query parameters are kept.
fn url_with_database(url: &str, db: &str) -> String {
    let authority = url.find("://").map_or(0, |i| i + 3);
    let end_of_authority = url[authority..]
        .find(['/', '?'])
        .map_or(url.len(), |i| authority + i);
    let query = url[end_of_authority..]
        .find('?')
        .map_or("", |i| &url[end_of_authority + i..]);
    format!("{}/{db}{query}", &url[..end_of_authority])
}

#[test]
fn url_rewriting() {
    assert_eq!(
        url_with_database("postgres://u:p@h:5/tern_test", "x"),
        "postgres://u:p@h:5/x"
    );
    assert_eq!(url_with_database("postgres://h", "x"), "postgres://h/x");
    assert_eq!(
        url_with_database("postgresql://h/d?sslmode=disable", "x"),
        "postgresql://h/x?sslmode=disable"
    );
    assert_eq!(
        url_with_database("postgres://h?a=b", "x"),
        "postgres://h/x?a=b"
    );
}

/// Creates a fresh database, runs `body` with its URL, then drops the
/// database even if `body` panicked (and re-raises the panic).
async fn with_fresh_db<F, Fut>(test: &str, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(url) = admin_url(test) else { return };
    let admin_opts = PgConnectOptions::from_str(&url).expect("TERN_TEST_PG_URL");
    let mut admin = PgConnection::connect_with(&admin_opts)
        .await
        .expect("connect to TERN_TEST_PG_URL");
    let name = fresh_db_name();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("CREATE DATABASE");
    let outcome = tokio::spawn(body(url_with_database(&url, &name))).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("DROP DATABASE");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test]
async fn pg_conformance() {
    with_fresh_db("pg_conformance", |url| async move {
        let store = PgStore::connect(&url).await.expect("connect");
        crate::conformance::run(&store).await;
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn pg_reconnect_keeps_data() {
    with_fresh_db("pg_reconnect_keeps_data", |url| async move {
        let store = PgStore::connect(&url).await.expect("connect");
        crate::conformance::populate(&store).await;
        store.close().await;
        // Reconnecting re-runs the (already applied) migrations: a no-op.
        let store = PgStore::connect(&url).await.expect("reconnect");
        crate::conformance::check_populated(&store).await;
        assert!(store.delete_account("example.org", "romeo").await.unwrap());
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn pg_open_store_url() {
    with_fresh_db("pg_open_store_url", |url| async move {
        let store = crate::open_store(&url).await.expect("open_store");
        crate::conformance::populate(store.as_ref()).await;
        crate::conformance::check_populated(store.as_ref()).await;
    })
    .await;
}

#[tokio::test]
async fn pg_bad_url_is_an_error() {
    assert!(PgStore::connect("postgres://[::1").await.is_err());
}
