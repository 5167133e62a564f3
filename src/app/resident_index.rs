//! The resident set's two indexes over the same histories: in id order for pages and
//! whole-population scans, and hashed for the single lookups of classification calls, where a
//! walk down a B-tree of a million string ids cost as much as the classification itself.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use crate::domain::compact::CompactHistory;

/// Ids come from callers, so the hash is seeded per process.
type ById = HashMap<Arc<str>, Arc<CompactHistory>, foldhash::fast::RandomState>;

/// Every resident history, indexed twice; both indexes always hold the same entries.
#[derive(Default)]
pub(super) struct Customers {
    ordered: BTreeMap<Arc<str>, Arc<CompactHistory>>,
    by_id: ById,
}

impl Customers {
    pub fn get(&self, id: &str) -> Option<&Arc<CompactHistory>> {
        self.by_id.get(id)
    }

    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    /// Every customer in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Arc<CompactHistory>)> {
        self.ordered.iter()
    }

    /// Customers with ids strictly after `after` (all when `None`), in id order.
    pub fn after<'a>(
        &'a self,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a Arc<str>, &'a Arc<CompactHistory>)> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.ordered.range::<str, _>((start, Bound::Unbounded))
    }

    pub fn insert(&mut self, id: Arc<str>, history: Arc<CompactHistory>) {
        self.by_id.insert(id.clone(), history.clone());
        self.ordered.insert(id, history);
    }

    pub fn remove(&mut self, id: &str) {
        self.by_id.remove(id);
        self.ordered.remove(id);
    }

    /// Changes one customer's history in place (an empty one when unknown) and returns what
    /// `change` returns.
    pub fn modify<R>(&mut self, id: &str, change: impl FnOnce(&mut CompactHistory) -> R) -> R {
        // Taken out of the hashed index first: with a second reference, `make_mut` would copy
        // the history on every write. The key it held is reused, so a known id costs no copy.
        let key = match self.by_id.remove_entry(id) {
            Some((key, _)) => key,
            None => Arc::from(id),
        };
        let entry = self.ordered.entry(key.clone()).or_default();
        // Readers holding the old history keep it; this customer gets a new one.
        let result = change(Arc::make_mut(entry));
        self.by_id.insert(key, entry.clone());
        result
    }

    /// Keeps only the customers `keep` accepts; it is asked once per index.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.ordered.retain(|id, _| keep(id));
        self.by_id.retain(|id, _| keep(id));
    }
}

impl Extend<(Arc<str>, Arc<CompactHistory>)> for Customers {
    fn extend<I: IntoIterator<Item = (Arc<str>, Arc<CompactHistory>)>>(&mut self, entries: I) {
        for (id, history) in entries {
            self.insert(id, history);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::history::CustomerProfile;

    /// Both indexes hold the same histories, the very same allocations.
    fn assert_agree(customers: &Customers, expected_ids: &[&str]) {
        let ids: Vec<&str> = customers.iter().map(|(id, _)| id.as_ref()).collect();
        assert_eq!(ids, expected_ids);
        assert_eq!(customers.by_id.len(), expected_ids.len());
        for (id, history) in customers.iter() {
            let hashed = customers.get(id).expect("in the hashed index");
            assert!(Arc::ptr_eq(hashed, history), "{id}");
        }
    }

    #[test]
    fn both_indexes_follow_every_write() {
        let mut customers = Customers::default();
        customers.extend(["b", "a"].map(|id| (Arc::from(id), Arc::default())));
        customers.insert(Arc::from("d"), Arc::default());
        assert_agree(&customers, &["a", "b", "d"]);

        customers.modify("c", |history| {
            history.set_profile(Some(&CustomerProfile::default()))
        });
        assert_agree(&customers, &["a", "b", "c", "d"]);
        assert!(customers.get("c").is_some_and(|h| h.is_known()));

        customers.remove("a");
        customers.retain(|id| id != "d");
        assert_agree(&customers, &["b", "c"]);
        assert!(customers.get("a").is_none() && customers.get("d").is_none());

        let after: Vec<&str> = customers
            .after(Some("b"))
            .map(|(id, _)| id.as_ref())
            .collect();
        assert_eq!(after, ["c"]);
    }

    #[test]
    fn a_history_nobody_else_holds_changes_in_place() {
        let mut customers = Customers::default();
        customers.insert(Arc::from("a"), Arc::default());
        let before = Arc::as_ptr(customers.get("a").expect("present"));
        customers.modify("a", |history| history.set_profile(None));
        assert_eq!(Arc::as_ptr(customers.get("a").expect("present")), before);

        // A reader's copy stays as it was; the customer gets a new history.
        let held = customers.get("a").cloned().expect("present");
        customers.modify("a", |history| {
            history.set_profile(Some(&CustomerProfile::default()))
        });
        assert!(!held.is_known());
        assert!(customers.get("a").is_some_and(|h| h.is_known()));
        assert_agree(&customers, &["a"]);
    }
}
