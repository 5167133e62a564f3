//! Builders for unit tests: histories described in days before a fixed `as_of`.

use super::dimensions::{classify, Classification, ClassifyInput, Dimension};
use super::features::{compute_features, Features};
use super::history::*;
use super::population::{build_population, BuyerSample, PopulationStats};
use super::rules::{RuleSet, VersionedRules};
use super::time::Timestamp;

/// 2025-07-01T00:00:00Z.
pub const AS_OF: Timestamp = Timestamp::from_seconds(1_751_328_000);

pub fn rules() -> VersionedRules {
    RuleSet::builtin().expect("built-in rules are valid")
}

/// A web order of one unit, no cost, no discount.
pub fn plain_order(order_id: &str, amount: i64) -> Order {
    Order {
        order_id: order_id.to_owned(),
        amount,
        cost: None,
        discount_amount: 0,
        coupon_code: None,
        units: 1,
        categories: Vec::new(),
        channel: Some(Channel::Web),
        consideration_seconds: None,
    }
}

pub fn days_ago(days: i64) -> Timestamp {
    AS_OF.minus_days(days)
}

/// Builds one customer's history event by event; ids are generated in call order.
pub struct HistoryBuilder {
    customer_id: String,
    history: History,
    next: usize,
}

impl HistoryBuilder {
    pub fn new(customer_id: &str) -> Self {
        Self {
            customer_id: customer_id.to_owned(),
            history: History::default(),
            next: 0,
        }
    }

    pub fn profile(mut self, edit: impl FnOnce(&mut CustomerProfile)) -> Self {
        let mut profile = self
            .history
            .profile
            .take()
            .unwrap_or_else(|| CustomerProfile {
                id: self.customer_id.clone(),
                ..CustomerProfile::default()
            });
        edit(&mut profile);
        self.history.profile = Some(profile);
        self
    }

    pub fn event_at(mut self, at: Timestamp, payload: EventPayload) -> Self {
        self.next += 1;
        self.history.events.push(Event {
            event_id: format!("{}-e{:04}", self.customer_id, self.next),
            customer_id: self.customer_id.clone(),
            at,
            payload,
        });
        self
    }

    pub fn event(self, days: i64, payload: EventPayload) -> Self {
        self.event_at(days_ago(days), payload)
    }

    /// An order of `amount` placed `days` ago, one unit, no cost, no discount.
    pub fn order(self, days: i64, amount: i64) -> Self {
        let id = format!("o{}", self.next + 1);
        self.order_with(days, amount, |o| o.order_id = id)
    }

    pub fn order_with(self, days: i64, amount: i64, edit: impl FnOnce(&mut Order)) -> Self {
        let mut order = plain_order(&format!("o{}", self.next + 1), amount);
        edit(&mut order);
        self.event(days, EventPayload::Order(order))
    }

    pub fn refund(self, days: i64, order_id: &str, amount: i64) -> Self {
        self.event(
            days,
            EventPayload::Refund(Refund {
                order_id: order_id.to_owned(),
                amount,
            }),
        )
    }

    pub fn ticket(
        self,
        days: i64,
        ticket_id: &str,
        kind: TicketKind,
        resolved: bool,
        sentiment: Option<f64>,
    ) -> Self {
        self.event(
            days,
            EventPayload::SupportTicket(TicketUpdate {
                ticket_id: ticket_id.to_owned(),
                kind,
                sentiment,
                resolved,
            }),
        )
    }

    pub fn survey(self, days: i64, kind: SurveyKind, score: u32) -> Self {
        self.event(days, EventPayload::Survey { kind, score })
    }

    pub fn interaction(self, days: i64, kind: InteractionKind) -> Self {
        self.event(
            days,
            EventPayload::Interaction {
                kind,
                channel: None,
            },
        )
    }

    pub fn referral(self, days: i64) -> Self {
        self.event(days, EventPayload::Referral { referred_id: None })
    }

    pub fn id(&self) -> &str {
        &self.customer_id
    }

    pub fn build(self) -> History {
        self.history
    }
}

pub fn features(history: &History) -> Features {
    compute_features(&history.into(), AS_OF, &rules().rules.windows)
}

/// The population statistics of `customers` at `AS_OF`.
pub fn population(customers: &[(String, History)]) -> PopulationStats {
    let rules = rules();
    let samples = customers.iter().filter_map(|(id, history)| {
        BuyerSample::from_features(
            &id.as_str().into(),
            &compute_features(&history.into(), AS_OF, &rules.rules.windows),
        )
    });
    build_population(
        samples,
        AS_OF,
        customers.len() as u64,
        &rules.rules.value_tier,
    )
}

pub fn classify_in(
    customer_id: &str,
    history: &History,
    population: &PopulationStats,
) -> Classification {
    classify_with(customer_id, history, population, &rules())
}

pub fn classify_with(
    customer_id: &str,
    history: &History,
    population: &PopulationStats,
    rules: &VersionedRules,
) -> Classification {
    classify(ClassifyInput {
        customer_id,
        history: &history.into(),
        as_of: AS_OF,
        rules,
        population,
        explain: true,
    })
}

/// Classifies one customer against a population made of that customer alone.
pub fn classify_alone(builder: HistoryBuilder) -> Classification {
    let id = builder.id().to_owned();
    let history = builder.build();
    let population = population(&[(id.clone(), history.clone())]);
    classify_in(&id, &history, &population)
}

pub fn code(classification: &Classification, dimension: Dimension) -> String {
    classification.code(dimension).to_owned()
}
