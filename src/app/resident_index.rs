//! The resident set's two indexes over the same histories: in id order for pages and
//! whole-population scans, and hashed for the single lookups of classification calls, where a
//! walk down a B-tree of a million string ids cost as much as the classification itself.
//!
//! Both indexes name a place in one list of histories rather than hold the history: a history
//! with one owner is changed in place, and an ingest that extends a customer's history finds
//! it through the hashed index alone. When both indexes held it, every change took it out of
//! one and walked the B-tree for the other, which was most of an ingest's take-in.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use crate::domain::compact::CompactHistory;

/// A place in [`Customers::histories`].
type Slot = usize;

/// Ids come from callers, so the hash is seeded per process.
type ById = HashMap<Arc<str>, Slot, foldhash::fast::RandomState>;

/// Every resident history once, indexed twice; both indexes always name the same places, and
/// every place one of them names holds that customer's history.
#[derive(Default)]
pub(super) struct Customers {
    histories: Vec<Arc<CompactHistory>>,
    /// Places whose customer was removed, for the next new customer.
    vacated: Vec<Slot>,
    /// Put in vacated places, so that nothing outlives its customer there.
    nothing: Arc<CompactHistory>,
    ordered: BTreeMap<Arc<str>, Slot>,
    by_id: ById,
}

impl Customers {
    pub fn get(&self, id: &str) -> Option<&Arc<CompactHistory>> {
        self.by_id.get(id).map(|&slot| self.at(slot))
    }

    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    /// Every customer in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Arc<CompactHistory>)> {
        self.ordered.iter().map(|(id, &slot)| (id, self.at(slot)))
    }

    /// Customers with ids strictly after `after` (all when `None`), in id order.
    pub fn after<'a>(
        &'a self,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a Arc<str>, &'a Arc<CompactHistory>)> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.ordered
            .range::<str, _>((start, Bound::Unbounded))
            .map(|(id, &slot)| (id, self.at(slot)))
    }

    pub fn insert(&mut self, id: Arc<str>, history: Arc<CompactHistory>) {
        match self.by_id.get(&id) {
            Some(&slot) => *self.at_mut(slot) = history,
            None => {
                self.add(id, history);
            }
        }
    }

    pub fn remove(&mut self, id: &str) {
        if let Some(slot) = self.by_id.remove(id) {
            self.ordered.remove(id);
            self.vacate(slot);
        }
    }

    /// Changes one customer's history in place (an empty one when unknown) and returns what
    /// `change` returns.
    pub fn modify<R>(&mut self, id: &str, change: impl FnOnce(&mut CompactHistory) -> R) -> R {
        let slot = match self.by_id.get(id) {
            Some(&slot) => slot,
            None => self.add(Arc::from(id), Arc::default()),
        };
        // Readers holding the old history keep it; this customer gets a new one.
        change(Arc::make_mut(self.at_mut(slot)))
    }

    /// Keeps only the customers `keep` accepts; it is asked once per customer.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let mut dropped = vec![false; self.histories.len()];
        self.ordered.retain(|id, &mut slot| {
            let kept = keep(id);
            dropped[slot] = !kept;
            kept
        });
        self.by_id.retain(|_, &mut slot| !dropped[slot]);
        for (slot, _) in dropped.iter().enumerate().filter(|(_, &gone)| gone) {
            self.vacate(slot);
        }
    }

    /// Indexes a customer not yet resident, in a vacated place if there is one.
    fn add(&mut self, id: Arc<str>, history: Arc<CompactHistory>) -> Slot {
        let slot = match self.vacated.pop() {
            Some(slot) => {
                *self.at_mut(slot) = history;
                slot
            }
            None => {
                self.histories.push(history);
                self.histories.len() - 1
            }
        };
        self.by_id.insert(id.clone(), slot);
        self.ordered.insert(id, slot);
        slot
    }

    fn vacate(&mut self, slot: Slot) {
        *self.at_mut(slot) = self.nothing.clone();
        self.vacated.push(slot);
    }

    // Every place an index names was handed out by `add`, so it is in bounds.
    fn at(&self, slot: Slot) -> &Arc<CompactHistory> {
        &self.histories[slot]
    }

    fn at_mut(&mut self, slot: Slot) -> &mut Arc<CompactHistory> {
        &mut self.histories[slot]
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

    /// Both indexes name the same place for every customer, and no two customers share one.
    fn assert_agree(customers: &Customers, expected_ids: &[&str]) {
        let ids: Vec<&str> = customers.iter().map(|(id, _)| id.as_ref()).collect();
        assert_eq!(ids, expected_ids);
        assert_eq!(customers.by_id.len(), expected_ids.len());
        for (id, slot) in &customers.ordered {
            assert_eq!(customers.by_id.get(id), Some(slot), "{id}");
            assert!(!customers.vacated.contains(slot), "{id}");
        }
        let mut slots: Vec<Slot> = customers.ordered.values().copied().collect();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), expected_ids.len());
        assert_eq!(
            customers.histories.len(),
            expected_ids.len() + customers.vacated.len()
        );
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

    #[test]
    fn a_removed_customer_releases_its_history_and_its_place_is_reused() {
        let mut customers = Customers::default();
        let history = Arc::new(CompactHistory::default());
        customers.insert(Arc::from("a"), history.clone());
        customers.insert(Arc::from("b"), Arc::default());
        customers.remove("a");
        assert_eq!(Arc::strong_count(&history), 1);
        assert_agree(&customers, &["b"]);

        customers.modify("c", |history| history.set_profile(None));
        assert_agree(&customers, &["b", "c"]);
        assert_eq!(customers.histories.len(), 2, "c took a's place");

        customers.insert(Arc::from("d"), history.clone());
        customers.retain(|id| id != "d" && id != "b");
        assert_eq!(Arc::strong_count(&history), 1);
        assert_agree(&customers, &["c"]);
        customers.remove("absent");
        assert_agree(&customers, &["c"]);
    }

    #[test]
    fn inserting_a_resident_customer_replaces_its_history_in_its_place() {
        let mut customers = Customers::default();
        customers.insert(Arc::from("a"), Arc::default());
        let known = Arc::new({
            let mut history = CompactHistory::default();
            history.set_profile(Some(&CustomerProfile::default()));
            history
        });
        customers.insert(Arc::from("a"), known.clone());
        assert!(Arc::ptr_eq(customers.get("a").expect("present"), &known));
        assert_agree(&customers, &["a"]);
    }
}
