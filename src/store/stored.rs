//! The JSON forms in which both backends store events and profiles, and the pages of
//! histories put together from them.

use crate::domain::history::{CustomerProfile, Event, History};
use crate::store::StoreError;

/// Decodes a stored `content_fingerprint()` back into the event. serde_json's
/// `float_roundtrip` feature (Cargo.toml) keeps ticket sentiments exact.
pub(super) fn decode_event(content: &str) -> Result<Event, StoreError> {
    serde_json::from_str(content)
        .map_err(|e| StoreError::Backend(format!("undecodable stored event: {e}")))
}

pub(super) fn decode_profile(json: &str) -> Result<CustomerProfile, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Backend(format!("undecodable stored profile: {e}")))
}

/// A page of customers (id, stored profile) with their histories, from their stored events
/// as (owner, content): both in id byte order, which both backends' collations give and
/// Rust's `str` order is.
pub(super) fn history_page(
    customers: Vec<(String, Option<String>)>,
    events: impl Iterator<Item = (String, String)>,
) -> Result<Vec<(String, History)>, StoreError> {
    let mut rows = events.peekable();
    let mut page = Vec::with_capacity(customers.len());
    for (id, profile) in customers {
        while rows.next_if(|(owner, _)| *owner < id).is_some() {}
        let mut events = Vec::new();
        while let Some((_, content)) = rows.next_if(|(owner, _)| *owner == id) {
            events.push(decode_event(&content)?);
        }
        let profile = profile.map(|json| decode_profile(&json)).transpose()?;
        page.push((id, History { profile, events }));
    }
    Ok(page)
}
