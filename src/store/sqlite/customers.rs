//! Profiles and their aliases inside a write transaction.
//!
//! A batch of profiles is decided in memory ([`ProfileBatch`]) against the stored ids and
//! alias owners it names, then written with multi-row statements: a few statements per
//! thousand profiles instead of several per profile. The write transaction is exclusive, so
//! nothing changes between the reads and the writes.

use std::sync::LazyLock;

use sqlx::SqliteConnection;

use super::rows::{cut, execute_all, Shapes};
use super::{is_unique_violation, now_micros};
use crate::domain::history::CustomerProfile;
pub(super) use crate::store::aliases::external_value;
use crate::store::aliases::{Alias, ProfileBatch};
use crate::store::{StoreError, UpsertOutcome};

// Through the narrow index of ids, not the primary key, whose rows hold the profiles: at a
// million customers those pages are mostly outside the cache, the index's stay in it.
pub(super) static FIND_CUSTOMERS: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(
        "SELECT id FROM customers INDEXED BY customers_by_id WHERE id IN (",
        "?",
        ")",
    )
});
// Joined from the key list so every key is one primary-key search.
static FIND_ALIASES: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(
        "SELECT a.kind, a.value, a.customer_id FROM (VALUES ",
        "(?, ?)",
        ") AS k CROSS JOIN aliases AS a ON a.kind = k.column1 AND a.value = k.column2",
    )
});
static UPSERT_CUSTOMERS: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(
        "INSERT INTO customers (id, profile, created_at, updated_at) VALUES ",
        "(?, ?, ?, ?)",
        " ON CONFLICT (id) DO UPDATE SET profile = excluded.profile, \
         updated_at = excluded.updated_at",
    )
});
static DELETE_ALIASES: LazyLock<Shapes> =
    LazyLock::new(|| Shapes::new("DELETE FROM aliases WHERE customer_id IN (", "?", ")"));
static INSERT_ALIASES: LazyLock<Shapes> = LazyLock::new(|| {
    Shapes::new(
        "INSERT INTO aliases (kind, value, customer_id) VALUES ",
        "(?, ?, ?)",
        "",
    )
});

/// Writes one profile and its alias set inside the caller's write transaction.
pub(super) async fn upsert_in(
    tx: &mut SqliteConnection,
    profile: &CustomerProfile,
) -> Result<UpsertOutcome, StoreError> {
    let created = upsert_many(tx, std::slice::from_ref(profile)).await?;
    Ok(UpsertOutcome {
        created: created == 1,
    })
}

/// Writes `profiles` in order inside the caller's write transaction, as upserting them one by
/// one would; returns how many ids were new. On `Err` nothing was written.
pub(super) async fn upsert_many(
    tx: &mut SqliteConnection,
    profiles: &[CustomerProfile],
) -> Result<u64, StoreError> {
    let batch = ProfileBatch::new(profiles);
    let ids = batch.ids();
    let stored = stored_ids(tx, &ids).await?;
    let owners = alias_owners(tx, &batch.alias_keys()).await?;
    let plan = batch.plan(|id| stored.binary_search(&id).is_ok(), &owners)?;

    let now = now_micros();
    let mut rows = Vec::with_capacity(plan.customers.len());
    for (profile, _) in &plan.customers {
        let json = serde_json::to_string(profile)
            .map_err(|e| StoreError::Backend(format!("cannot encode profile: {e}")))?;
        rows.push((profile.id.as_str(), json));
    }
    // In customer order: the foreign-key checks and the by-customer index then proceed
    // sequentially, and only the (kind, value) key is scattered.
    let aliases: Vec<(&Alias, &str)> = plan
        .customers
        .iter()
        .flat_map(|(profile, aliases)| aliases.iter().map(|alias| (*alias, profile.id.as_str())))
        .collect();

    let upserts = cut(rows.len()).map(|range| {
        let mut query = sqlx::query(UPSERT_CUSTOMERS.sql(range.len()));
        for (id, json) in &rows[range] {
            query = query.bind(*id).bind(json.as_str()).bind(now).bind(now);
        }
        query
    });
    // Only a stored customer can hold aliases already.
    let deletes = cut(stored.len()).map(|range| {
        let mut query = sqlx::query(DELETE_ALIASES.sql(range.len()));
        for id in &stored[range] {
            query = query.bind(*id);
        }
        query
    });
    let inserts = cut(aliases.len()).map(|range| {
        let mut query = sqlx::query(INSERT_ALIASES.sql(range.len()));
        for (alias, customer) in &aliases[range] {
            query = query
                .bind(alias.kind)
                .bind(alias.value.as_ref())
                .bind(*customer);
        }
        query
    });
    execute_all(tx, upserts.chain(deletes).chain(inserts))
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                // The plan leaves every alias to one customer: a clash is a bug, not a conflict.
                StoreError::Backend(format!("an alias was planned for two customers: {e}"))
            } else {
                e.into()
            }
        })?;
    Ok(plan.created)
}

/// The ids among `ids` (sorted) that are stored, sorted.
pub(super) async fn stored_ids<'i>(
    tx: &mut SqliteConnection,
    ids: &[&'i str],
) -> Result<Vec<&'i str>, StoreError> {
    let mut stored = Vec::new();
    for range in cut(ids.len()) {
        let chunk = &ids[range];
        let mut query = sqlx::query_as(FIND_CUSTOMERS.sql(chunk.len()));
        for id in chunk {
            query = query.bind(*id);
        }
        let rows: Vec<(String,)> = query.fetch_all(&mut *tx).await?;
        for (id,) in rows {
            if let Ok(at) = chunk.binary_search(&id.as_str()) {
                stored.push(chunk[at]);
            }
        }
    }
    stored.sort_unstable();
    Ok(stored)
}

/// The stored (kind, value, customer id) rows of the given alias keys.
async fn alias_owners(
    tx: &mut SqliteConnection,
    keys: &[(&str, &str)],
) -> Result<Vec<(String, String, String)>, StoreError> {
    let mut owners = Vec::new();
    for range in cut(keys.len()) {
        let mut query = sqlx::query_as(FIND_ALIASES.sql(range.len()));
        for (kind, value) in &keys[range] {
            query = query.bind(*kind).bind(*value);
        }
        let rows: Vec<(String, String, String)> = query.fetch_all(&mut *tx).await?;
        owners.extend(rows);
    }
    Ok(owners)
}
