//! Profiles and their aliases inside a write transaction.
//!
//! A batch of profiles is written with a few statements over arrays: the customer rows first
//! (inserted or updated, which locks them), then the batch is decided in memory
//! ([`ProfileBatch`]) against the stored owners of the aliases it names, then the aliases are
//! replaced. An alias claimed meanwhile by a concurrent writer fails the insert on
//! `aliases_pkey`; the transaction is retried and its check then names the alias as taken.

use std::collections::HashSet;

use sqlx::PgConnection;

use super::events::insert_if_new;
use super::{now_micros, Failure};
use crate::domain::history::CustomerProfile;
pub(super) use crate::store::aliases::external_value;
use crate::store::aliases::ProfileBatch;
use crate::store::StoreError;

/// Profiles per statement: bounds the size of one message (profiles are JSON of a few hundred
/// bytes).
const ROWS_PER_STATEMENT: usize = 10_000;

/// Writes `profiles` in order inside the caller's write transaction, as upserting them one by
/// one would; returns how many ids were new. On `Err` the caller must roll back.
pub(super) async fn upsert_many(
    tx: &mut PgConnection,
    profiles: &[CustomerProfile],
) -> Result<u64, Failure> {
    let batch = ProfileBatch::new(profiles);
    let latest = batch.latest();
    let now = now_micros();

    // Insert or update first: either way the rows stay locked until commit, so concurrent
    // upserts of one customer take turns and exactly one of them creates it. In id order,
    // so two batches cannot wait on each other in a circle.
    let mut created: HashSet<String> = HashSet::new();
    let mut updated = 0;
    for chunk in latest.chunks(ROWS_PER_STATEMENT) {
        let ids: Vec<&str> = chunk.iter().map(|p| p.id.as_str()).collect();
        let jsons = chunk
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<String>, _>>()
            .map_err(|e| StoreError::Backend(format!("cannot encode profile: {e}")))?;
        // Optimistically every customer is new (a first load): a plain insert is cheaper.
        let plain = sqlx::query(
            "INSERT INTO customers (id, profile, created_at, updated_at) \
             SELECT id, profile, $3, $3 FROM unnest($1::text[], $2::text[]) AS u (id, profile) \
             ORDER BY id COLLATE \"C\"",
        )
        .bind(&ids)
        .bind(&jsons)
        .bind(now);
        if insert_if_new(tx, plain, "customers_pkey").await? {
            created.extend(ids.iter().map(|id| (*id).to_owned()));
            continue;
        }
        let inserted: Vec<(String,)> = sqlx::query_as(
            "INSERT INTO customers (id, profile, created_at, updated_at) \
             SELECT id, profile, $3, $3 FROM unnest($1::text[], $2::text[]) AS u (id, profile) \
             ORDER BY id COLLATE \"C\" ON CONFLICT (id) DO NOTHING RETURNING id",
        )
        .bind(&ids)
        .bind(&jsons)
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let inserted: HashSet<String> = inserted.into_iter().map(|(id,)| id).collect();
        let (stored_ids, stored_jsons): (Vec<&str>, Vec<&str>) = ids
            .iter()
            .zip(&jsons)
            .filter(|(id, _)| !inserted.contains(**id))
            .map(|(id, json)| (*id, json.as_str()))
            .unzip();
        if !stored_ids.is_empty() {
            let done = sqlx::query(
                "UPDATE customers c SET profile = u.profile, updated_at = $3 \
                 FROM unnest($1::text[], $2::text[]) AS u (id, profile) WHERE c.id = u.id",
            )
            .bind(&stored_ids)
            .bind(&stored_jsons)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done < stored_ids.len() as u64 {
                return Err(Failure::Raced("a customer was erased during its upsert"));
            }
            updated += done;
        }
        created.extend(inserted);
    }

    let keys = batch.alias_keys();
    let mut owners = Vec::new();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let kinds: Vec<&str> = chunk.iter().map(|(kind, _)| *kind).collect();
        let values: Vec<&str> = chunk.iter().map(|(_, value)| *value).collect();
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT a.kind, a.value, a.customer_id \
             FROM unnest($1::text[], $2::text[]) AS k (kind, value) \
             JOIN aliases a ON a.kind = k.kind AND a.value = k.value",
        )
        .bind(&kinds)
        .bind(&values)
        .fetch_all(&mut *tx)
        .await?;
        owners.extend(rows);
    }
    let plan = batch.plan(|id| !created.contains(id), &owners)?;

    // Only a stored customer can hold aliases already.
    if updated > 0 {
        let stored: Vec<&str> = latest
            .iter()
            .map(|p| p.id.as_str())
            .filter(|id| !created.contains(*id))
            .collect();
        sqlx::query("DELETE FROM aliases WHERE customer_id = ANY($1)")
            .bind(&stored)
            .execute(&mut *tx)
            .await?;
    }
    let rows: Vec<(&str, &str, &str)> = plan
        .customers
        .iter()
        .flat_map(|(profile, aliases)| {
            aliases
                .iter()
                .map(|alias| (alias.kind, alias.value.as_ref(), profile.id.as_str()))
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let kinds: Vec<&str> = chunk.iter().map(|row| row.0).collect();
        let values: Vec<&str> = chunk.iter().map(|row| row.1).collect();
        let customers: Vec<&str> = chunk.iter().map(|row| row.2).collect();
        // A concurrent claim that commits first makes this fail on aliases_pkey (retried).
        sqlx::query(
            "INSERT INTO aliases (kind, value, customer_id) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
        )
        .bind(&kinds)
        .bind(&values)
        .bind(&customers)
        .execute(&mut *tx)
        .await?;
    }
    Ok(plan.created)
}
