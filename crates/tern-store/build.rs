//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!` embeds
//! `migrations/` at compile time but cannot ask Cargo to watch the directory.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
