//! SQLite implementation of the store (the embedded default).

pub struct SqliteStore;
