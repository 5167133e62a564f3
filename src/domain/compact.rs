//! A customer's history in the form features are computed from, small enough to keep a whole
//! population in memory: events sorted in decision order, ids reduced to keys, and only what
//! classification reads of the profile.
//!
//! Order ids, ticket ids and categories are only ever compared for equality within one
//! customer, so they are kept as 64-bit hashes. Two different ids of one customer would have
//! to collide for a feature to change: with n ids the chance is about n² / 2⁶⁵, which for
//! even 10,000 orders of one account is below one in 10¹¹.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use super::dimensions::Dimension;
use super::history::{
    Birthday, CustomerProfile, DecisionStyle, Event, EventPayload, History, InteractionKind, Plan,
    SurveyKind, TicketKind,
};
use super::prefetch::prefetch_slice;
use super::time::Timestamp;

/// What classification and the playbook read of a profile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileTraits {
    pub plan: Option<Plan>,
    pub decision_style: Option<DecisionStyle>,
    pub birthday: Option<Birthday>,
    pub pins: BTreeMap<Dimension, String>,
}

impl From<&CustomerProfile> for ProfileTraits {
    fn from(profile: &CustomerProfile) -> Self {
        Self {
            plan: profile.plan,
            decision_style: profile.decision_style,
            birthday: profile.birthday,
            pins: profile.pins.clone(),
        }
    }
}

/// The equality key of an id within one customer.
pub fn key_of(id: &str) -> u64 {
    // SipHash with fixed keys: the same in every process, never persisted.
    let mut hasher = std::hash::DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderFact {
    pub key: u64,
    pub amount: i64,
    /// The known cost, 0 when unknown (profit is amount minus known cost).
    pub cost: i64,
    pub units: u32,
    /// A discount or a non-empty coupon code.
    pub discounted: bool,
    /// Where the order's category keys start in [`CompactHistory::categories`], and how many.
    pub categories_start: u32,
    pub categories_len: u32,
    // An `Option<u64>` would take 16 bytes with its padding; a flag beside the other flags
    // keeps every fact at 56 bytes. Read through `consideration_seconds()`.
    consideration: u64,
    considered: bool,
}

impl OrderFact {
    pub fn consideration_seconds(&self) -> Option<u64> {
        self.considered.then_some(self.consideration)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FactKind {
    Order(OrderFact),
    Refund {
        key: u64,
        amount: i64,
    },
    Ticket {
        key: u64,
        kind: TicketKind,
        resolved: bool,
        sentiment: Option<f64>,
    },
    Survey {
        kind: SurveyKind,
        score: u32,
    },
    Review {
        rating: u32,
    },
    Referral,
    PlanChange(Plan),
}

/// One event, reduced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fact {
    pub at: Timestamp,
    pub kind: FactKind,
}

/// A dated interaction. Kept apart from the other facts because interactions are the most
/// numerous events and features only count them, in any order: 16 bytes instead of 56.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InteractionFact {
    pub at: Timestamp,
    pub kind: InteractionKind,
}

/// A history reduced for classification. Facts are in decision order: by instant, then event
/// id, each event once; interactions in no particular order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompactHistory {
    pub profile: Option<ProfileTraits>,
    facts: Vec<Fact>,
    interactions: Vec<InteractionFact>,
    categories: Vec<u64>,
    /// Whether two order facts share a key. The store refuses a second order with the same
    /// id, so this is nearly always false, and features then skip matching orders by key.
    repeated_order_keys: bool,
}

impl CompactHistory {
    /// Reduces `history`; events may come in any order and repeat.
    pub fn from_history(history: &History) -> Self {
        let mut compact = Self {
            profile: history.profile.as_ref().map(ProfileTraits::from),
            ..Self::default()
        };
        compact.extend(&history.events);
        compact
    }

    /// Adds events (in any order). Returns `false`, and changes nothing, when one of them
    /// shares its instant with a fact already held: their decision order depends on event ids
    /// that are no longer kept, so the caller must rebuild from the full history.
    pub fn extend<'e>(&mut self, events: impl IntoIterator<Item = &'e Event>) -> bool {
        let mut sorted: Vec<&Event> = events.into_iter().collect();
        // Interactions are only counted, so their order among equal instants never matters.
        let ordered = |e: &&&Event| !matches!(e.payload, EventPayload::Interaction { .. });
        if sorted
            .iter()
            .filter(ordered)
            .any(|e| self.facts.binary_search_by_key(&e.at, |f| f.at).is_ok())
        {
            return false;
        }
        sorted.sort_by(|a, b| (a.at, &a.event_id).cmp(&(b.at, &b.event_id)));
        sorted.dedup_by(|a, b| a.event_id == b.event_id);
        let appends_only = match (self.facts.last(), sorted.iter().find(ordered)) {
            (Some(last), Some(first)) => last.at < first.at,
            _ => true,
        };
        self.reserve_exactly_for(&sorted);
        let mut added_order_keys: Vec<u64> = sorted
            .iter()
            .filter_map(|e| match &e.payload {
                EventPayload::Order(order) => Some(key_of(&order.order_id)),
                _ => None,
            })
            .collect();
        for event in sorted {
            self.push(event);
        }
        if !appends_only {
            // Stable: new events are already in order and never share an instant with old ones.
            self.facts.sort_by_key(|f| f.at);
        }
        // Facts only grow, so a repeat found once stays one.
        if !self.repeated_order_keys && !added_order_keys.is_empty() {
            self.repeated_order_keys = self.repeats_any(&mut added_order_keys);
        }
        true
    }

    /// Whether one of the order keys just added is now on two orders. One pass over the
    /// facts, so an ingest of one order does not sort a large account's keys again.
    fn repeats_any(&self, added: &mut [u64]) -> bool {
        added.sort_unstable();
        if added.windows(2).any(|pair| pair[0] == pair[1]) {
            return true;
        }
        // Without a repeat each added key is on exactly one order: its own.
        let carrying = self
            .facts
            .iter()
            .filter(|fact| {
                matches!(fact.kind, FactKind::Order(order) if added.binary_search(&order.key).is_ok())
            })
            .count();
        carrying > added.len()
    }

    /// Whether two orders share an id (a history the store would not have accepted).
    pub fn has_repeated_order_keys(&self) -> bool {
        self.repeated_order_keys
    }

    /// Replaces the profile part (an upsert).
    pub fn set_profile(&mut self, profile: Option<&CustomerProfile>) {
        self.profile = profile.map(ProfileTraits::from);
    }

    /// An unknown customer has neither a profile nor events.
    pub fn is_known(&self) -> bool {
        self.profile.is_some() || !self.facts.is_empty() || !self.interactions.is_empty()
    }

    /// Asks the CPU to start loading this history's events. A whole-population scan meets
    /// each history once at a scattered address, so waiting for memory is most of its cost
    /// unless the next few customers' events are already on their way.
    #[inline]
    pub fn prefetch_events(&self) {
        prefetch_slice(&self.facts);
        prefetch_slice(&self.interactions);
        prefetch_slice(&self.categories);
    }

    pub fn facts(&self) -> &[Fact] {
        &self.facts
    }

    pub fn interactions(&self) -> &[InteractionFact] {
        &self.interactions
    }

    /// Category keys over all orders, repeats included.
    pub fn category_count(&self) -> usize {
        self.categories.len()
    }

    pub fn order_categories(&self, order: &OrderFact) -> &[u64] {
        let start = order.categories_start as usize;
        let end = start + order.categories_len as usize;
        self.categories.get(start..end).unwrap_or(&[])
    }

    /// Frees spare capacity: a population of these stays in memory.
    pub fn shrink_to_fit(&mut self) {
        self.facts.shrink_to_fit();
        self.interactions.shrink_to_fit();
        self.categories.shrink_to_fit();
    }

    /// Grows each vector by exactly what `events` add. A resident history lives long and
    /// mostly gains an event at a time, so the usual doubling would leave about as much unused
    /// room as data in every customer that ever gets a new event.
    fn reserve_exactly_for(&mut self, events: &[&Event]) {
        let (mut interactions, mut facts, mut categories) = (0, 0, 0);
        for event in events {
            match &event.payload {
                EventPayload::Interaction { .. } => interactions += 1,
                EventPayload::Order(order) => {
                    facts += 1;
                    categories += order.categories.len();
                }
                _ => facts += 1,
            }
        }
        self.interactions.reserve_exact(interactions);
        self.facts.reserve_exact(facts);
        self.categories.reserve_exact(categories);
    }

    fn push(&mut self, event: &Event) {
        let kind = match &event.payload {
            EventPayload::Interaction { kind, .. } => {
                self.interactions.push(InteractionFact {
                    at: event.at,
                    kind: *kind,
                });
                return;
            }
            EventPayload::Order(order) => {
                let categories_start = u32::try_from(self.categories.len()).unwrap_or(u32::MAX);
                self.categories
                    .extend(order.categories.iter().map(|c| key_of(c)));
                FactKind::Order(OrderFact {
                    key: key_of(&order.order_id),
                    amount: order.amount,
                    cost: order.cost.unwrap_or(0),
                    units: order.units,
                    discounted: order.discount_amount > 0
                        || order.coupon_code.as_deref().is_some_and(|c| !c.is_empty()),
                    consideration: order.consideration_seconds.unwrap_or(0),
                    considered: order.consideration_seconds.is_some(),
                    categories_start,
                    categories_len: u32::try_from(order.categories.len()).unwrap_or(0),
                })
            }
            EventPayload::Refund(refund) => FactKind::Refund {
                key: key_of(&refund.order_id),
                amount: refund.amount,
            },
            EventPayload::SupportTicket(update) => FactKind::Ticket {
                key: key_of(&update.ticket_id),
                kind: update.kind,
                resolved: update.resolved,
                sentiment: update.sentiment,
            },
            EventPayload::Survey { kind, score } => FactKind::Survey {
                kind: *kind,
                score: *score,
            },
            EventPayload::Review { rating } => FactKind::Review { rating: *rating },
            EventPayload::Referral { .. } => FactKind::Referral,
            EventPayload::PlanChange { plan } => FactKind::PlanChange(*plan),
        };
        self.facts.push(Fact { at: event.at, kind });
    }
}

impl From<&History> for CompactHistory {
    fn from(history: &History) -> Self {
        Self::from_history(history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::history::{Order, Refund};

    #[test]
    fn facts_stay_small_enough_for_a_million_resident_customers() {
        // The memory budget of a resident population rests on these sizes.
        assert!(std::mem::size_of::<Fact>() <= 56);
        assert_eq!(std::mem::size_of::<InteractionFact>(), 16);
    }

    fn event(id: &str, seconds: i64, payload: EventPayload) -> Event {
        Event {
            event_id: id.into(),
            customer_id: "c".into(),
            at: Timestamp::from_seconds(seconds),
            payload,
        }
    }

    fn order(id: &str, categories: &[&str]) -> EventPayload {
        EventPayload::Order(Order {
            order_id: id.into(),
            amount: 100,
            cost: None,
            discount_amount: 0,
            coupon_code: Some(String::new()),
            units: 1,
            categories: categories.iter().map(|c| (*c).into()).collect(),
            channel: None,
            consideration_seconds: None,
        })
    }

    #[test]
    fn facts_follow_instant_then_event_id_and_repeats_collapse() {
        let history = History {
            profile: None,
            events: vec![
                event("b", 20, EventPayload::Referral { referred_id: None }),
                event("a", 20, EventPayload::Review { rating: 4 }),
                event("z", 10, order("o1", &["x", "y"])),
                event("a", 20, EventPayload::Review { rating: 4 }),
            ],
        };
        let compact = CompactHistory::from_history(&history);
        let kinds: Vec<_> = compact.facts().iter().map(|f| f.kind).collect();
        assert_eq!(kinds.len(), 3);
        assert_eq!(kinds[1], FactKind::Review { rating: 4 });
        assert_eq!(kinds[2], FactKind::Referral);
        let FactKind::Order(first) = kinds[0] else {
            panic!("the earliest fact is the order")
        };
        assert_eq!(
            compact.order_categories(&first),
            &[key_of("x"), key_of("y")]
        );
        assert!(!first.discounted, "an empty coupon code is no discount");
    }

    #[test]
    fn extending_inserts_in_order_and_refuses_shared_instants() {
        let mut compact = CompactHistory::from_history(&History {
            profile: None,
            events: vec![
                event("e1", 10, order("o1", &[])),
                event("e3", 30, order("o3", &[])),
            ],
        });
        let refund = EventPayload::Refund(Refund {
            order_id: "o1".into(),
            amount: 5,
        });
        assert!(compact.extend(&[event("e2", 20, refund)]));
        let instants: Vec<_> = compact.facts().iter().map(|f| f.at.micros()).collect();
        assert_eq!(instants, vec![10_000_000, 20_000_000, 30_000_000]);

        let before = compact.clone();
        let tie = event("e0", 30, EventPayload::Referral { referred_id: None });
        assert!(!compact.extend(&[tie]));
        assert_eq!(compact, before);
    }

    #[test]
    fn a_repeated_order_id_is_flagged_whenever_it_arrives() {
        let mut compact = CompactHistory::from_history(&History {
            profile: None,
            events: vec![
                event("e1", 10, order("o1", &[])),
                event("e2", 20, order("o2", &[])),
            ],
        });
        assert!(!compact.has_repeated_order_keys());
        assert!(compact.extend(&[event("e3", 30, EventPayload::Review { rating: 5 })]));
        assert!(!compact.has_repeated_order_keys());
        // Earlier than both: it lands first, and still counts as a repeat.
        assert!(compact.extend(&[event("e0", 5, order("o2", &[]))]));
        assert!(compact.has_repeated_order_keys());
    }

    #[test]
    fn known_means_a_profile_or_a_fact() {
        assert!(!CompactHistory::default().is_known());
        let mut with_profile = CompactHistory::default();
        with_profile.set_profile(Some(&CustomerProfile::default()));
        assert!(with_profile.is_known());
    }
}
