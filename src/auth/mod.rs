//! API keys per calling system: scopes, key material, and which scope each RPC needs.
//! Keys are shown once at creation and stored only as SHA-256 hashes; a key has 256 random
//! bits, so a fast hash is as safe as a slow one and keeps each call cheap.

mod cache;
mod keys;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::history::code_enum;
use crate::domain::time::Timestamp;

pub use cache::{AuthError, KeyCache};
pub use keys::{create_key, install_keys_file, list_keys, revoke_key, KeysError};

code_enum!(
    /// What a key may do. `admin` includes the others.
    Scope {
        /// Classify, recommend, read customers, segment views.
        Classify => "classify",
        /// Write history: profiles, events, erasure.
        Write => "write",
        /// Everything, including snapshot refresh.
        Admin => "admin",
    }
);

impl Scope {
    /// Parses a comma-separated list such as `classify,write`.
    pub fn parse_list(text: &str) -> Result<Vec<Scope>, String> {
        let mut scopes = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope = Scope::from_code(part)
                .ok_or_else(|| format!("unknown scope {part:?}; use classify, write or admin"))?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err("give at least one scope: classify, write or admin".to_owned());
        }
        Ok(scopes)
    }
}

/// A stored key: everything but the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public identifier, also the key's visible prefix.
    pub id: String,
    /// The calling system, e.g. `erp`.
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Hex SHA-256 of the whole key.
    pub hash: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl ApiKeyRecord {
    pub fn allows(&self, needed: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&needed)
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// SHA-256 of a presented key, as the in-memory key table is indexed.
pub type KeyDigest = [u8; 32];

pub fn key_digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

/// Hex SHA-256 of a presented key, as stored.
pub fn hash_key(key: &str) -> String {
    hex::encode(key_digest(key))
}

/// A fresh key `sgk_<id>_<secret>` and its id: 8 hex id characters, 64 hex secret ones.
pub fn generate_key() -> (String, String) {
    let mut id = [0u8; 4];
    let mut secret = [0u8; 32];
    let mut rng = rand::rngs::OsRng;
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    let id = hex::encode(id);
    let key = format!("sgk_{id}_{}", hex::encode(secret));
    (id, key)
}

/// The scope an RPC needs; `None` for calls anyone may make (health checks, reflection).
pub fn required_scope(path: &str) -> Option<Scope> {
    if crate::api::is_infrastructure_call(path) {
        return None;
    }
    Some(match path {
        "/segmenter.v1.HistoryService/GetCustomer" => Scope::Classify,
        p if p.starts_with("/segmenter.v1.HistoryService/") => Scope::Write,
        "/segmenter.v1.SegmentationService/RefreshSnapshot" => Scope::Admin,
        p if p.starts_with("/segmenter.v1.SegmentationService/") => Scope::Classify,
        // Anything else (unknown methods) needs the strongest scope.
        _ => Scope::Admin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_per_rpc() {
        assert_eq!(required_scope("/grpc.health.v1.Health/Check"), None);
        assert_eq!(
            required_scope("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            None
        );
        assert_eq!(
            required_scope("/segmenter.v1.SegmentationService/Classify"),
            Some(Scope::Classify)
        );
        assert_eq!(
            required_scope("/segmenter.v1.SegmentationService/BatchClassify"),
            Some(Scope::Classify)
        );
        assert_eq!(
            required_scope("/segmenter.v1.SegmentationService/RefreshSnapshot"),
            Some(Scope::Admin)
        );
        assert_eq!(
            required_scope("/segmenter.v1.HistoryService/GetCustomer"),
            Some(Scope::Classify)
        );
        assert_eq!(
            required_scope("/segmenter.v1.HistoryService/RecordEvents"),
            Some(Scope::Write)
        );
        assert_eq!(
            required_scope("/segmenter.v1.HistoryService/DeleteCustomer"),
            Some(Scope::Write)
        );
        assert_eq!(required_scope("/other.Service/Call"), Some(Scope::Admin));
    }

    #[test]
    fn admin_includes_every_scope() {
        let key = |scopes: Vec<Scope>| ApiKeyRecord {
            id: "i".into(),
            name: "n".into(),
            scopes,
            hash: String::new(),
            created_at: Timestamp(0),
            revoked_at: None,
        };
        assert!(key(vec![Scope::Admin]).allows(Scope::Write));
        assert!(key(vec![Scope::Classify]).allows(Scope::Classify));
        assert!(!key(vec![Scope::Classify]).allows(Scope::Write));
        assert!(!key(vec![Scope::Write]).allows(Scope::Admin));
    }

    #[test]
    fn keys_are_random_and_hash_stably() {
        let (id, key) = generate_key();
        assert!(key.starts_with(&format!("sgk_{id}_")));
        assert_eq!(key.len(), 4 + 8 + 1 + 64);
        assert_ne!(generate_key().1, key);
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn scope_lists_parse() {
        assert_eq!(
            Scope::parse_list("classify, write,classify").unwrap(),
            vec![Scope::Classify, Scope::Write]
        );
        assert!(Scope::parse_list("").is_err());
        assert!(Scope::parse_list("read").is_err());
    }
}
