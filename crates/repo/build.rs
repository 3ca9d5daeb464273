//! `MIGRATOR` is `sqlx::migrate!("./migrations")` (a link to the workspace's `migrations/`): the macro embeds each
//! migration with `include_str!`, so an edited file rebuilds this crate, but a new file would not (on stable Rust
//! the macro cannot tell Cargo to watch the folder) and the tests would run without it. Watching the folder here
//! closes that gap.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
