//! Rebuilds the host when a migration is added: `sqlx::migrate!` embeds `../migrations` at
//! compile time, but cargo only knows to rerun it when a file it tracks changes (sqlx's
//! documented build script).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
