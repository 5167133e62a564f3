//! Profiles and their aliases inside a write transaction.

use std::collections::HashSet;

use super::{is_unique_violation, now_micros};
use crate::domain::history::CustomerProfile;
pub(super) use crate::store::aliases::external_value;
use crate::store::aliases::profile_aliases;
use crate::store::{StoreError, UpsertOutcome};

/// Writes one profile and its alias set inside the caller's write transaction.
pub(super) async fn upsert_in(
    tx: &mut sqlx::SqliteConnection,
    profile: &CustomerProfile,
) -> Result<UpsertOutcome, StoreError> {
    let json = serde_json::to_string(profile)
        .map_err(|e| StoreError::Backend(format!("cannot encode profile: {e}")))?;
    let aliases = profile_aliases(profile);

    let existed = sqlx::query("SELECT 1 FROM customers WHERE id = ?")
        .bind(&profile.id)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    // Checked before any change so the first conflicting field is named and nothing
    // is written; dropping `tx` rolls back.
    for alias in &aliases {
        let owner: Option<(String,)> =
            sqlx::query_as("SELECT customer_id FROM aliases WHERE kind = ? AND value = ?")
                .bind(alias.kind)
                .bind(&alias.value)
                .fetch_optional(&mut *tx)
                .await?;
        if owner.is_some_and(|(owner,)| owner != profile.id) {
            return Err(alias.taken());
        }
    }

    let now = now_micros();
    sqlx::query(
        "INSERT INTO customers (id, profile, created_at, updated_at) VALUES (?1, ?2, ?3, ?3) \
         ON CONFLICT (id) DO UPDATE SET profile = excluded.profile, \
         updated_at = excluded.updated_at",
    )
    .bind(&profile.id)
    .bind(&json)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM aliases WHERE customer_id = ?")
        .bind(&profile.id)
        .execute(&mut *tx)
        .await?;
    let mut inserted = HashSet::new();
    for alias in &aliases {
        if !inserted.insert((alias.kind, alias.value.as_str())) {
            continue;
        }
        sqlx::query("INSERT INTO aliases (kind, value, customer_id) VALUES (?, ?, ?)")
            .bind(alias.kind)
            .bind(&alias.value)
            .bind(&profile.id)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    alias.taken()
                } else {
                    e.into()
                }
            })?;
    }
    Ok(UpsertOutcome { created: !existed })
}
