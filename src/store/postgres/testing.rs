//! Throwaway PostgreSQL databases for tests: the shared suite's backend and the
//! PostgreSQL-specific tests. They run when `SEGMENTER_TEST_POSTGRES_URL` names a server (a URL
//! whose user may create databases, e.g. `postgres://postgres@127.0.0.1:5432/postgres`) and
//! are skipped with a note otherwise.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{Connection, PgConnection};

use super::PostgresStore;
use crate::store::conformance::Backend;
use crate::store::Store;

pub(crate) const URL_VARIABLE: &str = "SEGMENTER_TEST_POSTGRES_URL";

/// A database of its own for one test (so tests run in parallel), dropped with this value.
pub(crate) struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates `segmenter_test_<random>` on the server the variable names; `None`, after
    /// printing a note, when it is not set.
    pub(crate) async fn create() -> Option<TestDatabase> {
        let admin_url = match std::env::var(URL_VARIABLE) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                println!("SKIPPED: {URL_VARIABLE} not set");
                return None;
            }
        };
        let name = format!("segmenter_test_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{URL_VARIABLE}: cannot connect: {e}"));
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        let _ = admin.close().await;
        Some(TestDatabase {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        })
    }

    /// The URL of this database.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// A new store (pool) on this database, as another replica would open.
    pub(crate) async fn store(&self) -> PostgresStore {
        PostgresStore::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.url))
    }

    /// A plain connection to this database, outside any store.
    pub(crate) async fn connection(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.url))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop may run inside the test's runtime, so the cleanup gets a thread and a runtime
        // of its own. FORCE ends the connections that dropped pools have not closed yet. Best
        // effort: a leftover test database is harmless.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                let dropped =
                    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                let _ = admin.close().await;
                dropped.map(drop).map_err(|e| e.to_string())
            })
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("leaving test database {}: {e}", self.name),
            Err(_) => eprintln!("leaving test database {}", self.name),
        }
    }
}

#[async_trait]
impl Backend for TestDatabase {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(self.store().await)
    }
}

/// `url` with its database (path) replaced by `name`; the query string is kept.
pub(crate) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut replaced = format!("{}/{name}", &base[..path]);
    if let Some(query) = query {
        replaced.push('?');
        replaced.push_str(query);
    }
    replaced
}
