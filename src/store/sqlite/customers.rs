//! Profiles and their aliases inside a write transaction.

use std::collections::HashSet;

use super::{is_unique_violation, now_micros};
use crate::domain::history::{CustomerProfile, ExternalId};
use crate::store::{StoreError, UpsertOutcome};

/// One alias of a profile, with what an `AliasTaken` error names.
struct Alias {
    kind: &'static str,
    value: String,
    field: String,
    shown: String,
}

impl Alias {
    fn taken(&self) -> StoreError {
        StoreError::AliasTaken {
            alias: self.shown.clone(),
            field: self.field.clone(),
        }
    }
}

pub(super) fn external_value(external: &ExternalId) -> String {
    // U+001F cannot occur in a (printable) system name, so the pair stays unambiguous.
    format!("{}\u{1f}{}", external.system, external.key)
}

fn profile_aliases(profile: &CustomerProfile) -> Vec<Alias> {
    let phones = profile.phones.iter().enumerate().map(|(i, phone)| Alias {
        kind: "phone",
        value: phone.clone(),
        field: format!("customer.phones[{i}]"),
        shown: format!("phone {phone}"),
    });
    let emails = profile.emails.iter().enumerate().map(|(i, email)| Alias {
        kind: "email",
        value: email.clone(),
        field: format!("customer.emails[{i}]"),
        shown: format!("e-mail {email}"),
    });
    let externals = profile
        .external_ids
        .iter()
        .enumerate()
        .map(|(i, external)| Alias {
            kind: "external",
            value: external_value(external),
            field: format!("customer.external_ids[{i}]"),
            shown: format!("external id ({:?}, {:?})", external.system, external.key),
        });
    phones.chain(emails).chain(externals).collect()
}

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
