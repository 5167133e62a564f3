//! Customer profiles: upsert, read, erase.

use super::{App, AppError};
use crate::domain::history::{CustomerProfile, CustomerRef};
use crate::store::{DeleteOutcome, UpsertOutcome};

impl App {
    /// Stores a profile that the caller already normalised with `validate::normalize_profile`.
    pub async fn upsert_customer(
        &self,
        profile: &CustomerProfile,
    ) -> Result<UpsertOutcome, AppError> {
        let outcome = self.store.upsert_customer(profile).await?;
        // The store may have merged into an existing profile: keep what it holds.
        if let Some(stored) = self.store.profile(&profile.id).await? {
            self.resident.set_profile(&stored);
        }
        // Pins and plans are history too: cached past snapshots may no longer match.
        self.snapshots.clear();
        Ok(outcome)
    }

    /// The stored profile and event count. A customer known only from events gets a bare profile.
    pub async fn get_customer(
        &self,
        reference: &CustomerRef,
    ) -> Result<(CustomerProfile, u64), AppError> {
        let id = self.resolve(reference).await?.ok_or_else(|| {
            AppError::NotFound(format!("no customer matches {}", describe(reference)))
        })?;
        let profile = self
            .store
            .profile(&id)
            .await?
            .unwrap_or_else(|| CustomerProfile {
                id: id.clone(),
                ..CustomerProfile::default()
            });
        let events = self.store.event_count(&id).await?;
        Ok((profile, events))
    }

    /// Erases a customer (right to erasure); `None` when there was nothing to erase.
    pub async fn delete_customer(
        &self,
        reference: &CustomerRef,
    ) -> Result<Option<DeleteOutcome>, AppError> {
        match self.resolve(reference).await? {
            Some(id) => {
                let outcome = self.store.delete_customer(&id).await?;
                self.resident.remove(&id);
                // Erased means erased: no cached snapshot may still count the customer.
                self.snapshots.clear();
                Ok(outcome)
            }
            None => Ok(None),
        }
    }
}

/// A reference for messages; phones and e-mails are masked since messages reach logs.
pub fn describe(reference: &CustomerRef) -> String {
    match reference {
        CustomerRef::Id(id) => format!("id {id:?}"),
        CustomerRef::Phone(phone) => format!("phone {}", mask(phone, 4)),
        CustomerRef::Email(email) => {
            let (local, domain) = email.split_once('@').unwrap_or((email, ""));
            format!("e-mail {}@{domain}", mask(local, 1))
        }
        CustomerRef::External(ext) => format!("external id {}:{}", ext.system, ext.key),
    }
}

/// Keeps the last `keep` characters (first for e-mail locals) and stars the rest.
fn mask(value: &str, keep: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= keep {
        return "*".repeat(chars.len());
    }
    let (shown_prefix, shown_suffix) = if keep == 1 { (1, 0) } else { (0, keep) };
    let mut masked = String::new();
    for (i, c) in chars.iter().enumerate() {
        let visible = i < shown_prefix || i >= chars.len() - shown_suffix;
        masked.push(if visible { *c } else { '*' });
    }
    masked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::history::ExternalId;

    #[test]
    fn descriptions_mask_personal_data() {
        assert_eq!(
            describe(&CustomerRef::Phone("+8613812345678".into())),
            "phone **********5678"
        );
        assert_eq!(
            describe(&CustomerRef::Email("li.wei@example.com".into())),
            "e-mail l*****@example.com"
        );
        assert_eq!(describe(&CustomerRef::Id("c-1".into())), "id \"c-1\"");
        let ext = ExternalId {
            system: "erp".into(),
            key: "K-1".into(),
        };
        assert_eq!(describe(&CustomerRef::External(ext)), "external id erp:K-1");
    }
}
