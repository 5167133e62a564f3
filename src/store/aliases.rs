//! The aliases of a profile as both stores keep them: one row per (kind, value), external ids
//! folded into one value, and what an `AliasTaken` error names.

use super::StoreError;
use crate::domain::history::{CustomerProfile, ExternalId};

/// One alias of a profile, with what an `AliasTaken` error names.
pub(crate) struct Alias {
    pub(crate) kind: &'static str,
    pub(crate) value: String,
    field: String,
    shown: String,
}

impl Alias {
    pub(crate) fn taken(&self) -> StoreError {
        StoreError::AliasTaken {
            alias: self.shown.clone(),
            field: self.field.clone(),
        }
    }
}

pub(crate) fn external_value(external: &ExternalId) -> String {
    // U+001F cannot occur in a (printable) system name, so the pair stays unambiguous.
    format!("{}\u{1f}{}", external.system, external.key)
}

pub(crate) fn profile_aliases(profile: &CustomerProfile) -> Vec<Alias> {
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
