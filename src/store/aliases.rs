//! The aliases of a profile as both stores keep them: one row per (kind, value), external ids
//! folded into one value, and what an `AliasTaken` error names. And [`ProfileBatch`]: many
//! profile upserts decided at once.

use std::borrow::Cow;

use super::StoreError;
use crate::domain::history::{CustomerProfile, ExternalId};

/// One alias of a profile, borrowed from it; what an `AliasTaken` error names is only
/// formatted when one is.
pub(crate) struct Alias<'p> {
    pub(crate) kind: &'static str,
    pub(crate) value: Cow<'p, str>,
    /// The position in the profile's list of its kind.
    position: usize,
    external: Option<&'p ExternalId>,
}

impl Alias<'_> {
    pub(crate) fn taken(&self) -> StoreError {
        let (alias, list) = match self.external {
            Some(external) => (
                format!("external id ({:?}, {:?})", external.system, external.key),
                "external_ids",
            ),
            None if self.kind == "phone" => (format!("phone {}", self.value), "phones"),
            None => (format!("e-mail {}", self.value), "emails"),
        };
        StoreError::AliasTaken {
            alias,
            field: format!("customer.{list}[{}]", self.position),
        }
    }

    fn key(&self) -> (&'static str, &str) {
        (self.kind, &self.value)
    }
}

pub(crate) fn external_value(external: &ExternalId) -> String {
    // U+001F cannot occur in a (printable) system name, so the pair stays unambiguous.
    format!("{}\u{1f}{}", external.system, external.key)
}

/// Phones, then e-mail addresses, then external ids, each in profile order.
pub(crate) fn profile_aliases(profile: &CustomerProfile) -> Vec<Alias<'_>> {
    let mut aliases = plain_aliases("phone", &profile.phones);
    aliases.extend(plain_aliases("email", &profile.emails));
    aliases.extend(
        profile
            .external_ids
            .iter()
            .enumerate()
            .map(|(position, external)| Alias {
                kind: "external",
                value: Cow::Owned(external_value(external)),
                position,
                external: Some(external),
            }),
    );
    aliases
}

fn plain_aliases<'p>(kind: &'static str, list: &'p [String]) -> Vec<Alias<'p>> {
    list.iter()
        .enumerate()
        .map(|(position, value)| Alias {
            kind,
            value: Cow::Borrowed(value.as_str()),
            position,
            external: None,
        })
        .collect()
}

/// A batch of profile upserts, decided in memory against what is stored, so a backend writes
/// it with a few multi-row statements yet with the outcome of upserting the profiles one by
/// one: a later profile of an id replaces an earlier one (and frees the aliases it drops), and
/// the first alias that belongs to another customer at its profile's turn fails the batch.
pub(crate) struct ProfileBatch<'p> {
    profiles: &'p [CustomerProfile],
    aliases: Vec<Vec<Alias<'p>>>,
    /// (profile index, alias index) of every alias, sorted by (kind, value), then profile.
    named: Vec<(usize, usize)>,
}

/// What a batch writes: per id, in id order, its last profile and that profile's aliases
/// (each once, in profile order).
pub(crate) struct UpsertPlan<'b> {
    pub(crate) customers: Vec<(&'b CustomerProfile, Vec<&'b Alias<'b>>)>,
    /// Ids that were not stored before.
    pub(crate) created: u64,
}

impl<'p> ProfileBatch<'p> {
    pub(crate) fn new(profiles: &'p [CustomerProfile]) -> Self {
        let aliases: Vec<Vec<Alias<'p>>> = profiles.iter().map(profile_aliases).collect();
        let mut named: Vec<(usize, usize)> = aliases
            .iter()
            .enumerate()
            .flat_map(|(index, list)| (0..list.len()).map(move |at| (index, at)))
            .collect();
        named.sort_unstable_by(|a, b| {
            let key = |&(index, at): &(usize, usize)| aliases[index][at].key();
            key(a).cmp(&key(b)).then(a.0.cmp(&b.0))
        });
        Self {
            profiles,
            aliases,
            named,
        }
    }

    /// The (kind, value) of an entry of `named`.
    fn key_of(&self, &(index, at): &(usize, usize)) -> (&'static str, &str) {
        self.aliases[index][at].key()
    }

    /// The batch's customer ids, sorted, each once.
    pub(crate) fn ids(&self) -> Vec<&'p str> {
        let mut ids: Vec<&str> = self.profiles.iter().map(|p| p.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The last profile of each id, in id order: what each customer row ends up holding.
    pub(crate) fn latest(&self) -> Vec<&'p CustomerProfile> {
        self.latest_indices()
            .into_iter()
            .map(|index| &self.profiles[index])
            .collect()
    }

    fn latest_indices(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.profiles.len()).collect();
        // Stable, so equal ids keep batch order and the last of each run is the latest.
        order.sort_by(|&a, &b| self.profiles[a].id.cmp(&self.profiles[b].id));
        let mut latest: Vec<usize> = Vec::with_capacity(order.len());
        for index in order {
            match latest.last_mut() {
                Some(last) if self.profiles[*last].id == self.profiles[index].id => *last = index,
                _ => latest.push(index),
            }
        }
        latest
    }

    /// Every (kind, value) the batch names, sorted, each once: whose owners to look up.
    pub(crate) fn alias_keys(&self) -> Vec<(&'static str, &str)> {
        let mut keys: Vec<(&'static str, &str)> =
            self.named.iter().map(|entry| self.key_of(entry)).collect();
        keys.dedup();
        keys
    }

    /// Replays the upserts in order. `stored` tells whether an id of the batch is stored;
    /// `owners` are the stored (kind, value, customer id) rows of [`Self::alias_keys`].
    ///
    /// Only contested keys need the replay: those named more than once in the batch or owned
    /// already. A key named once and owned by nobody goes to its profile whatever happens.
    pub(crate) fn plan(
        &self,
        stored: impl Fn(&str) -> bool,
        owners: &[(String, String, String)],
    ) -> Result<UpsertPlan<'_>, StoreError> {
        let mut owners: Vec<(&str, &str, &str)> = owners
            .iter()
            .map(|(kind, value, customer)| (kind.as_str(), value.as_str(), customer.as_str()))
            .collect();
        owners.sort_unstable();
        let mut contested: Vec<Option<&str>> = Vec::new();
        let mut key_of_alias: Vec<Vec<Option<usize>>> = self
            .aliases
            .iter()
            .map(|list| vec![None; list.len()])
            .collect();
        let mut run = 0;
        while run < self.named.len() {
            let key = self.key_of(&self.named[run]);
            let end = run
                + self.named[run..]
                    .iter()
                    .take_while(|entry| self.key_of(entry) == key)
                    .count();
            let owner = owners
                .binary_search_by(|(kind, value, _)| (*kind, *value).cmp(&key))
                .ok()
                .map(|at| owners[at].2);
            if end - run > 1 || owner.is_some() {
                for &(index, at) in &self.named[run..end] {
                    key_of_alias[index][at] = Some(contested.len());
                }
                contested.push(owner);
            }
            run = end;
        }
        self.replay(&mut contested, &key_of_alias)?;

        let mut created = 0;
        let customers = self
            .latest_indices()
            .into_iter()
            .map(|index| {
                let profile = &self.profiles[index];
                if !stored(&profile.id) {
                    created += 1;
                }
                let list = &self.aliases[index];
                let unique = list
                    .iter()
                    .enumerate()
                    .filter(|(at, alias)| list[..*at].iter().all(|a| a.key() != alias.key()))
                    .map(|(_, alias)| alias)
                    .collect();
                (profile, unique)
            })
            .collect();
        Ok(UpsertPlan { customers, created })
    }

    /// Walks the profiles in order over the owners of the contested keys (`owner[k]` is the
    /// holder of contested key `k`); the first alias another customer holds fails the batch.
    fn replay<'a>(
        &'a self,
        owner: &mut [Option<&'a str>],
        key_of_alias: &[Vec<Option<usize>>],
    ) -> Result<(), StoreError> {
        if owner.is_empty() {
            return Ok(());
        }
        let mut held: std::collections::HashMap<&str, Vec<usize>> = Default::default();
        for (key, holder) in owner.iter().enumerate() {
            if let Some(holder) = holder {
                held.entry(holder).or_default().push(key);
            }
        }
        for (index, profile) in self.profiles.iter().enumerate() {
            let id = profile.id.as_str();
            let keys = &key_of_alias[index];
            for (alias, key) in self.aliases[index].iter().zip(keys) {
                if let Some(holder) = key.and_then(|key| owner[key]) {
                    if holder != id {
                        return Err(alias.taken());
                    }
                }
            }
            // The profile replaces the customer's previous one and its aliases.
            for key in held.remove(id).unwrap_or_default() {
                if owner[key] == Some(id) {
                    owner[key] = None;
                }
            }
            let mine: Vec<usize> = keys.iter().flatten().copied().collect();
            for &key in &mine {
                owner[key] = Some(&self.profiles[index].id);
            }
            if !mine.is_empty() {
                held.insert(id, mine);
            }
        }
        Ok(())
    }
}
