//! Per-customer features at an instant `as_of` (spec section 2). Pure: a history and rules in,
//! numbers out. Shares and means are kept as exact integer fractions so that threshold
//! comparisons never depend on floating-point rounding.

use serde::{Deserialize, Serialize};

use super::compact::{CompactHistory, FactKind, OrderFact};
use super::history::{InteractionKind, Plan, SurveyKind, TicketKind};
use super::predictive::PurchaseDays;
use super::rules::Windows;
use super::time::{Timestamp, MICROS_PER_DAY};

/// An exact non-negative fraction `numerator / denominator` with a non-zero denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fraction {
    pub numerator: i128,
    pub denominator: i128,
}

impl Default for Fraction {
    /// Zero.
    fn default() -> Self {
        Self {
            numerator: 0,
            denominator: 1,
        }
    }
}

impl Fraction {
    /// `None` when the denominator is zero: the value is undefined, not zero.
    pub fn new(numerator: i128, denominator: i128) -> Option<Self> {
        (denominator != 0).then_some(Self {
            numerator,
            denominator,
        })
    }

    pub fn to_f64(self) -> f64 {
        self.numerator as f64 / self.denominator as f64
    }

    /// `self >= parts_per_million / 1e6`, exactly.
    pub fn at_least_ppm(self, parts_per_million: i64) -> bool {
        self.numerator * 1_000_000 >= i128::from(parts_per_million) * self.denominator
    }

    /// `self <= parts_per_million / 1e6`, exactly.
    pub fn at_most_ppm(self, parts_per_million: i64) -> bool {
        self.numerator * 1_000_000 <= i128::from(parts_per_million) * self.denominator
    }
}

impl std::fmt::Display for Fraction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = self.to_f64();
        if value.fract() == 0.0 {
            write!(f, "{value:.0}")
        } else {
            write!(f, "{}", (value * 10_000.0).round() / 10_000.0)
        }
    }
}

/// Ticket counts by kind, for tickets opened within one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketCounts {
    pub question: u64,
    pub complaint: u64,
    pub claim: u64,
    pub escalation: u64,
    /// Complaint tickets (COMPLAINT or CLAIM) that are not resolved.
    pub unresolved_complaints: u64,
}

impl TicketCounts {
    pub fn total(&self) -> u64 {
        self.question + self.complaint + self.claim + self.escalation
    }

    /// COMPLAINT + CLAIM.
    pub fn complaints(&self) -> u64 {
        self.complaint + self.claim
    }

    fn add(&mut self, kind: TicketKind, resolved: bool) {
        match kind {
            TicketKind::Question => self.question += 1,
            TicketKind::Complaint => self.complaint += 1,
            TicketKind::Claim => self.claim += 1,
            TicketKind::Escalation => self.escalation += 1,
        }
        if kind.is_complaint() && !resolved {
            self.unresolved_complaints += 1;
        }
    }
}

/// One support ticket as of `as_of`: opened at its first event, kind and resolution from its
/// latest event, sentiment the latest one given.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TicketSummary {
    pub opened_at: Timestamp,
    pub kind: TicketKind,
    pub resolved: bool,
    pub sentiment: Option<f64>,
}

/// A dated survey answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatedScore {
    pub score: u32,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    pub as_of: Option<Timestamp>,
    pub first_purchase_at: Option<Timestamp>,
    pub last_purchase_at: Option<Timestamp>,
    pub purchases_ever: u64,
    pub recency_days: Option<i64>,
    pub tenure_days: Option<i64>,
    /// Purchases within the lookback window `L`.
    pub frequency: u64,
    pub monetary: i64,
    pub profit: i64,
    pub units: u64,
    pub distinct_categories: u64,
    /// Purchases within `L` with a discount or a coupon.
    pub discounted_purchases: u64,
    pub discount_share: Option<Fraction>,
    /// Median of consideration seconds; a half-integer when the count is even.
    pub median_consideration_seconds: Option<Fraction>,
    pub consideration_count: u64,
    pub research_interactions: u64,
    pub research_per_purchase: Fraction,
    pub interactions_90d: u64,
    pub outbound_contacts_30d: u64,
    pub outbound_contacts_90d: u64,
    /// Every ticket opened at or before `as_of`, for rules with configurable windows.
    pub tickets: Vec<TicketSummary>,
    pub tickets_30d: TicketCounts,
    pub tickets_90d: TicketCounts,
    pub tickets_180d: TicketCounts,
    /// Lowest sentiment among complaint tickets opened within 30 days.
    pub min_complaint_sentiment_30d: Option<f64>,
    /// Lowest sentiment among all tickets opened within 30 days.
    pub min_sentiment_30d: Option<f64>,
    pub csat_avg_365d: Option<Fraction>,
    pub csat_count_365d: u64,
    pub last_csat: Option<DatedScore>,
    /// The latest NPS answer within the feedback window.
    pub last_nps: Option<DatedScore>,
    pub referrals_365d: u64,
    pub review_avg_365d: Option<Fraction>,
    pub refund_rate: Option<Fraction>,
    pub spend_trend: i64,
    pub current_plan: Option<Plan>,
    /// Every purchase ever (not only within `L`) by UTC day, net of refunds: what the
    /// predictive models summarise (`predictive::summary`); `None` for non-buyers.
    pub purchase_days: Option<PurchaseDays>,
}

impl Features {
    pub fn is_buyer(&self) -> bool {
        self.purchases_ever > 0
    }

    pub fn is_active_buyer(&self) -> bool {
        self.frequency > 0
    }

    /// Tickets opened within `days` of `as_of` that satisfy `keep`.
    pub fn count_tickets(&self, days: i64, keep: impl Fn(&TicketSummary) -> bool) -> u64 {
        let Some(as_of) = self.as_of else { return 0 };
        self.tickets
            .iter()
            .filter(|t| t.opened_at.is_within_days(as_of, days) && keep(t))
            .count() as u64
    }

    /// `true` when `instant` lies within `days` of `as_of`.
    pub fn within(&self, instant: Timestamp, days: i64) -> bool {
        self.as_of
            .is_some_and(|as_of| instant.is_within_days(as_of, days))
    }
}

struct OrderState {
    at: Timestamp,
    refunded: i64,
    order: OrderFact,
}

struct TicketState {
    opened_at: Timestamp,
    kind: TicketKind,
    resolved: bool,
    sentiment: Option<f64>,
}

/// Computes every feature of one customer at `as_of`.
pub fn compute_features(history: &CompactHistory, as_of: Timestamp, windows: &Windows) -> Features {
    let lookback = windows.lookback_days;
    let feedback = windows.feedback_days;
    let mut f = Features {
        as_of: Some(as_of),
        current_plan: history.profile.as_ref().and_then(|p| p.plan),
        ..Features::default()
    };

    for interaction in history.interactions() {
        let at = interaction.at;
        if at > as_of {
            continue;
        }
        match interaction.kind {
            InteractionKind::OutboundContact => {
                if at.is_within_days(as_of, 30) {
                    f.outbound_contacts_30d += 1;
                }
                if at.is_within_days(as_of, 90) {
                    f.outbound_contacts_90d += 1;
                }
            }
            other => {
                if at.is_within_days(as_of, windows.interactions_days) {
                    f.interactions_90d += 1;
                }
                let research = matches!(
                    other,
                    InteractionKind::ProductView
                        | InteractionKind::Comparison
                        | InteractionKind::ReviewRead
                );
                if research && at.is_within_days(as_of, lookback) {
                    f.research_interactions += 1;
                }
            }
        }
    }

    // Keyed state in first-seen order; keys are looked up by sorting once, not per event,
    // so an account with thousands of orders stays O(n log n).
    // Sized once for the worst case (every fact an order): growing it step by step cost more.
    let mut orders: Vec<(u64, OrderState)> = Vec::with_capacity(history.facts().len());
    let mut ticket_updates: Vec<(u64, usize, Timestamp, TicketKind, bool, Option<f64>)> =
        Vec::new();
    let mut refunds = Vec::new();
    let mut csat_sum = 0i128;
    let mut review_sum = 0i128;
    let mut review_count = 0i128;

    // Facts are in decision order (instant, then event id), so "later" means later here.
    let facts = history.facts();
    // Usually every fact is visible (as_of is now): one look at the last saves a binary search
    // whose scattered reads are cache misses, before the scan below reads them in order.
    let visible = match facts.last() {
        Some(last) if last.at <= as_of => facts.len(),
        _ => facts.partition_point(|fact| fact.at <= as_of),
    };
    for (position, fact) in facts[..visible].iter().enumerate() {
        let at = fact.at;
        match fact.kind {
            FactKind::Order(order) => {
                orders.push((
                    order.key,
                    OrderState {
                        at,
                        refunded: 0,
                        order,
                    },
                ));
                if at.is_within_days(as_of, windows.interactions_days) {
                    f.interactions_90d += 1;
                }
            }
            // Applied after the loop: a refund may share its order's instant yet sort before it.
            FactKind::Refund { key, amount } => refunds.push((key, amount)),
            FactKind::Ticket {
                key,
                kind,
                resolved,
                sentiment,
            } => ticket_updates.push((key, position, at, kind, resolved, sentiment)),
            FactKind::Survey { kind, score } => {
                let dated = DatedScore { score, at };
                match kind {
                    SurveyKind::Csat => {
                        f.last_csat = Some(dated);
                        if at.is_within_days(as_of, feedback) {
                            csat_sum += i128::from(score);
                            f.csat_count_365d += 1;
                        }
                    }
                    SurveyKind::Nps => {
                        if at.is_within_days(as_of, feedback) {
                            f.last_nps = Some(dated);
                        }
                    }
                    SurveyKind::Ces => {}
                }
            }
            FactKind::Review { rating } => {
                if at.is_within_days(as_of, feedback) {
                    review_sum += i128::from(rating);
                    review_count += 1;
                }
            }
            FactKind::Referral => {
                if at.is_within_days(as_of, feedback) {
                    f.referrals_365d += 1;
                }
            }
            FactKind::PlanChange(plan) => f.current_plan = Some(plan),
        }
    }

    // Order features do not depend on the order of orders, so keys are only matched (by
    // sorting once) when a refund names one or a history repeats an order id; the stable sort
    // keeps the first of a repeat, in decision order.
    if !refunds.is_empty() || history.has_repeated_order_keys() {
        orders.sort_by_key(|(key, _)| *key);
        orders.dedup_by_key(|(key, _)| *key);
        for (key, amount) in refunds {
            if let Ok(found) = orders.binary_search_by_key(&key, |(k, _)| *k) {
                orders[found].1.refunded += amount;
            }
        }
    }
    f.csat_avg_365d = Fraction::new(csat_sum, i128::from(f.csat_count_365d));
    f.review_avg_365d = Fraction::new(review_sum, review_count);
    add_ticket_features(&mut f, &fold_tickets(ticket_updates), as_of, windows);
    f.tickets.sort_by_key(|t| t.opened_at);
    add_order_features(
        &mut f,
        history,
        orders.iter().map(|(_, o)| o),
        as_of,
        lookback,
    );
    f
}

/// Folds ticket updates (key, position, instant, kind, resolved, sentiment) into tickets:
/// opened at the first update, kind and resolution from the latest, the latest sentiment given.
fn fold_tickets(
    mut updates: Vec<(u64, usize, Timestamp, TicketKind, bool, Option<f64>)>,
) -> Vec<TicketState> {
    updates.sort_by_key(|u| (u.0, u.1));
    let mut tickets: Vec<(u64, TicketState)> = Vec::new();
    for (key, _, at, kind, resolved, sentiment) in updates {
        match tickets.last_mut() {
            Some((last, state)) if *last == key => {
                state.kind = kind;
                state.resolved = resolved;
                if sentiment.is_some() {
                    state.sentiment = sentiment;
                }
            }
            _ => tickets.push((
                key,
                TicketState {
                    opened_at: at,
                    kind,
                    resolved,
                    sentiment,
                },
            )),
        }
    }
    tickets.into_iter().map(|(_, state)| state).collect()
}

fn add_ticket_features(
    f: &mut Features,
    tickets: &[TicketState],
    as_of: Timestamp,
    windows: &Windows,
) {
    for ticket in tickets {
        f.tickets.push(TicketSummary {
            opened_at: ticket.opened_at,
            kind: ticket.kind,
            resolved: ticket.resolved,
            sentiment: ticket.sentiment,
        });
        let opened = ticket.opened_at;
        if opened.is_within_days(as_of, windows.interactions_days) {
            f.interactions_90d += 1;
        }
        if opened.is_within_days(as_of, 30) {
            f.tickets_30d.add(ticket.kind, ticket.resolved);
            if let Some(sentiment) = ticket.sentiment {
                f.min_sentiment_30d =
                    Some(f.min_sentiment_30d.map_or(sentiment, |m| m.min(sentiment)));
                if ticket.kind.is_complaint() {
                    f.min_complaint_sentiment_30d = Some(
                        f.min_complaint_sentiment_30d
                            .map_or(sentiment, |m| m.min(sentiment)),
                    );
                }
            }
        }
        if opened.is_within_days(as_of, 90) {
            f.tickets_90d.add(ticket.kind, ticket.resolved);
        }
        if opened.is_within_days(as_of, 180) {
            f.tickets_180d.add(ticket.kind, ticket.resolved);
        }
    }
}

fn add_order_features<'a>(
    f: &mut Features,
    history: &CompactHistory,
    orders: impl ExactSizeIterator<Item = &'a OrderState>,
    as_of: Timestamp,
    lookback: i64,
) {
    let mut categories: Vec<u64> = Vec::with_capacity(history.category_count());
    let mut considerations = Vec::new();
    let mut ordered_in_window = 0i128;
    let mut refunded_in_window = 0i128;
    let mut recent_net = 0i64;
    let mut previous_net = 0i64;
    let mut purchases: Vec<(i64, i64)> = Vec::with_capacity(orders.len());

    for state in orders {
        let order = &state.order;
        let net = order.amount - state.refunded;
        let in_window = state.at.is_within_days(as_of, lookback);
        if in_window {
            ordered_in_window += i128::from(order.amount);
            refunded_in_window += i128::from(state.refunded);
        }
        if state.at.is_within_days(as_of, 90) {
            recent_net += net;
        } else if state.at.is_within_days(as_of.minus_days(90), 90) {
            previous_net += net;
        }

        let is_purchase = order.amount > 0 && state.refunded < order.amount;
        if !is_purchase {
            continue;
        }
        f.purchases_ever += 1;
        purchases.push((state.at.micros().div_euclid(MICROS_PER_DAY), net));
        f.first_purchase_at = Some(f.first_purchase_at.map_or(state.at, |t| t.min(state.at)));
        f.last_purchase_at = Some(f.last_purchase_at.map_or(state.at, |t| t.max(state.at)));
        if !in_window {
            continue;
        }
        f.frequency += 1;
        f.monetary += net;
        f.profit += net - order.cost;
        f.units += u64::from(order.units);
        // Pushed one by one: a few keys per order, for which a bulk copy's call costs more.
        for &category in history.order_categories(order) {
            categories.push(category);
        }
        if order.discounted {
            f.discounted_purchases += 1;
        }
        if let Some(seconds) = order.consideration_seconds() {
            considerations.push(seconds);
        }
    }

    categories.sort_unstable();
    categories.dedup();
    f.distinct_categories = categories.len() as u64;
    f.recency_days = f.last_purchase_at.map(|t| t.days_until(as_of));
    f.tenure_days = f.first_purchase_at.map(|t| t.days_until(as_of));
    f.discount_share = Fraction::new(i128::from(f.discounted_purchases), i128::from(f.frequency));
    f.consideration_count = considerations.len() as u64;
    f.median_consideration_seconds = median(&mut considerations);
    f.research_per_purchase = Fraction {
        numerator: i128::from(f.research_interactions),
        denominator: i128::from(f.frequency.max(1)),
    };
    f.refund_rate = if ordered_in_window == 0 {
        None
    } else {
        Fraction::new(refunded_in_window, ordered_in_window)
    };
    f.spend_trend = recent_net - previous_net;
    f.purchase_days =
        PurchaseDays::from_purchases(purchases, as_of.micros().div_euclid(MICROS_PER_DAY));
}

/// The median as an exact fraction: the mean of the two middle values for an even count.
fn median(values: &mut [u64]) -> Option<Fraction> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    let numerator = if values.len() % 2 == 1 {
        2 * i128::from(values[mid])
    } else {
        i128::from(values[mid - 1]) + i128::from(values[mid])
    };
    Fraction::new(numerator, 2)
}
