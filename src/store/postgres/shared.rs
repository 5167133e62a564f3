//! What replicas share through the database besides history: API keys, the scheduled
//! snapshot lease, and computed population snapshots.

use std::sync::Arc;

use super::PostgresStore;
use crate::auth::ApiKeyRecord;
use crate::domain::population::PopulationStats;
use crate::domain::time::Timestamp;
use crate::store::{
    api_key_from_row, decode_snapshot, encode_snapshot, scopes_to_text, ApiKeyRow, StoreError,
    SNAPSHOTS_KEPT,
};

impl PostgresStore {
    pub(super) async fn keys_insert(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, scopes, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(scopes_to_text(&key.scopes))
        .bind(&key.hash)
        .bind(key.created_at.micros())
        .bind(key.revoked_at.map(|t| t.micros()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn keys_update(&self, key: &ApiKeyRecord) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_keys SET name = $1, scopes = $2 WHERE id = $3")
            .bind(&key.name)
            .bind(scopes_to_text(&key.scopes))
            .bind(&key.id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn keys_all(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(
            "SELECT id, name, scopes, hash, created_at, revoked_at FROM api_keys ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(api_key_from_row).collect())
    }

    pub(super) async fn keys_revoke(
        &self,
        name_or_id: &str,
        at: Timestamp,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE (name = $2 OR id = $2) AND revoked_at IS NULL",
        )
        .bind(at.micros())
        .bind(name_or_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn lease_try(
        &self,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let granted = sqlx::query(
            "INSERT INTO snapshot_lease (id, holder, expires_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE snapshot_lease.expires_at < $3 OR snapshot_lease.holder = excluded.holder",
        )
        .bind(holder)
        .bind(until.micros())
        .bind(now.micros())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(granted == 1)
    }

    pub(super) async fn snapshot_save(
        &self,
        stats: &Arc<PopulationStats>,
        rules_version: &str,
    ) -> Result<(), StoreError> {
        let body = encode_snapshot(stats).await?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO snapshots (id, rules_version, as_of, body) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&stats.info.id)
        .bind(rules_version)
        .bind(stats.info.as_of.micros())
        .bind(&body)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM snapshots WHERE rules_version = $1 AND id NOT IN \
             (SELECT id FROM snapshots WHERE rules_version = $1 ORDER BY as_of DESC LIMIT $2)",
        )
        .bind(rules_version)
        .bind(SNAPSHOTS_KEPT)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn snapshot_latest(
        &self,
        rules_version: &str,
    ) -> Result<Option<PopulationStats>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT body FROM snapshots WHERE rules_version = $1 ORDER BY as_of DESC LIMIT 1",
        )
        .bind(rules_version)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some((body,)) => decode_snapshot(body).await.map(Some),
            None => Ok(None),
        }
    }
}
