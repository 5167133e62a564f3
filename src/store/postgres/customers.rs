//! Profiles and their aliases inside a write transaction.

use std::collections::HashSet;

use sqlx::PgConnection;

use super::{now_micros, Failure};
use crate::domain::history::CustomerProfile;
pub(super) use crate::store::aliases::external_value;
use crate::store::aliases::{profile_aliases, Alias};
use crate::store::{StoreError, UpsertOutcome};

/// Writes one profile and its alias set inside the caller's write transaction.
pub(super) async fn upsert_in(
    tx: &mut PgConnection,
    profile: &CustomerProfile,
) -> Result<UpsertOutcome, Failure> {
    let json = serde_json::to_string(profile)
        .map_err(|e| StoreError::Backend(format!("cannot encode profile: {e}")))?;
    let now = now_micros();

    // Insert or update first: either way the row stays locked until commit, so concurrent
    // upserts of one customer take turns and exactly one of them creates it.
    let created = sqlx::query(
        "INSERT INTO customers (id, profile, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&profile.id)
    .bind(&json)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !created {
        let updated =
            sqlx::query("UPDATE customers SET profile = $2, updated_at = $3 WHERE id = $1")
                .bind(&profile.id)
                .bind(&json)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if updated == 0 {
            return Err(Failure::Raced("the customer was erased during its upsert"));
        }
    }

    // Deduplicated in profile order: the first conflicting alias is the one named.
    let mut seen = HashSet::new();
    let aliases: Vec<Alias> = profile_aliases(profile)
        .into_iter()
        .filter(|alias| seen.insert((alias.kind, alias.value.clone())))
        .collect();
    let kinds: Vec<&str> = aliases.iter().map(|alias| alias.kind).collect();
    let values: Vec<&str> = aliases.iter().map(|alias| alias.value.as_str()).collect();
    if !aliases.is_empty() {
        let taken: Option<(i64,)> = sqlx::query_as(
            "SELECT u.n FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u (kind, value, n) \
             JOIN aliases a ON a.kind = u.kind AND a.value = u.value \
             WHERE a.customer_id <> $3 ORDER BY u.n LIMIT 1",
        )
        .bind(&kinds)
        .bind(&values)
        .bind(&profile.id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((n,)) = taken {
            let alias = usize::try_from(n - 1).ok().and_then(|i| aliases.get(i));
            return Err(match alias {
                Some(alias) => alias.taken().into(),
                None => StoreError::Backend(format!("alias check answered {n}")).into(),
            });
        }
    }

    sqlx::query("DELETE FROM aliases WHERE customer_id = $1")
        .bind(&profile.id)
        .execute(&mut *tx)
        .await?;
    if !aliases.is_empty() {
        // A concurrent claim that commits first makes this fail on aliases_pkey (retried).
        sqlx::query(
            "INSERT INTO aliases (kind, value, customer_id) \
             SELECT kind, value, $3 FROM unnest($1::text[], $2::text[]) AS u (kind, value)",
        )
        .bind(&kinds)
        .bind(&values)
        .bind(&profile.id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(UpsertOutcome { created })
}
