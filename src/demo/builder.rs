//! Building blocks of a synthetic history: instants relative to the demo's `as_of`, orders,
//! refunds, tickets with their updates, surveys; and the values they draw from (catalogue,
//! coupons, channels). Events get their ids last, in chronological order, so ids are stable for a
//! seed and the latest-wins tie-break agrees with the story.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::domain::history::{
    Channel, Event, EventPayload, InteractionKind, Order, Plan, Refund, SurveyKind, TicketKind,
    TicketUpdate,
};
use crate::domain::time::{Timestamp, MICROS_PER_DAY, MICROS_PER_SECOND};

/// Product categories of the demo shop.
pub const CATALOGUE: &[&str] = &[
    "books",
    "toys",
    "electronics",
    "home",
    "apparel",
    "beauty",
    "grocery",
    "sports",
    "garden",
    "office",
];

pub const COUPONS: &[&str] = &["WELCOME10", "SUMMER", "DOUBLE11", "618", "VIP5", "BACK2U"];

const YUAN: i64 = 100;

/// How a customer shops: the ranges each of its orders draws from.
#[derive(Debug, Clone)]
pub struct Shopping {
    /// Amount in yuan (stored in fen).
    pub yuan: (i64, i64),
    /// Gross margin in percent: the known cost is the rest of the amount.
    pub margin: (i64, i64),
    /// Chance in percent that an order carries a discount or a coupon.
    pub discount_pct: u32,
    pub units: (u32, u32),
    /// Categories per order, drawn from the customer's `breadth` favourite categories.
    pub categories_per_order: (usize, usize),
    pub breadth: usize,
    pub channels: &'static [Channel],
    /// Seconds from first view to purchase, when the shop measured it (web and app orders).
    pub consideration: Option<(u64, u64)>,
}

impl Shopping {
    /// An ordinary shopper: small baskets, mostly full price, everyday consideration times.
    pub fn everyday() -> Self {
        Self {
            yuan: (40, 400),
            margin: (20, 40),
            discount_pct: 20,
            units: (1, 3),
            categories_per_order: (1, 2),
            breadth: 3,
            channels: &[Channel::Web, Channel::App, Channel::Store],
            consideration: Some((1_800, 86_400)),
        }
    }
}

/// One customer's history under construction.
pub struct Builder<'r> {
    pub rng: &'r mut ChaCha8Rng,
    pub as_of: Timestamp,
    history_days: i64,
    customer_id: String,
    /// The catalogue in this customer's order of preference: a `breadth` of 3 means the three
    /// categories this customer favours, not the same three for everyone.
    shelf: Vec<&'static str>,
    /// Payloads with their instants; ids are assigned in [`Builder::finish`].
    items: Vec<(Timestamp, EventPayload)>,
    orders: u32,
    tickets: u32,
}

impl<'r> Builder<'r> {
    pub fn new(
        rng: &'r mut ChaCha8Rng,
        as_of: Timestamp,
        customer_id: &str,
        history_days: i64,
    ) -> Self {
        let mut shelf = CATALOGUE.to_vec();
        shelf.shuffle(rng);
        Self {
            shelf,
            rng,
            as_of,
            history_days,
            customer_id: customer_id.to_owned(),
            items: Vec::new(),
            orders: 0,
            tickets: 0,
        }
    }

    /// An instant `days` whole days before `as_of` (by the spec's floored day count), at a
    /// random time of that day. Personas tell a two-year story; ages beyond the one-year
    /// windows are stretched or squeezed into `366..=history_days`, so the windows keep their
    /// meaning (a history shorter than a year is cut at `history_days`).
    pub fn days_ago(&mut self, days: i64) -> Timestamp {
        let days = match self.history_days {
            h if h > 365 && days > 365 => 365 + (days - 365) * (h - 365) / 365,
            h => days.min(h.max(0)),
        };
        let within_day = self.rng.gen_range(0..MICROS_PER_DAY / MICROS_PER_SECOND);
        Timestamp::from_micros(
            self.as_of.minus_days(days).micros() - within_day * MICROS_PER_SECOND,
        )
    }

    /// An instant whose age in days lies in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> Timestamp {
        let days = self.rng.gen_range(lo..=hi.max(lo));
        self.days_ago(days)
    }

    pub fn chance(&mut self, percent: u32) -> bool {
        self.rng.gen_range(0..100) < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        // Callers pass non-empty constant lists.
        items[self.rng.gen_range(0..items.len())]
    }

    fn push(&mut self, at: Timestamp, payload: EventPayload) {
        self.items.push((at, payload));
    }

    /// Places an order; returns its id and amount so a refund can follow.
    pub fn order(&mut self, at: Timestamp, style: &Shopping) -> (String, i64) {
        self.orders += 1;
        let order_id = format!("o{:04}", self.orders);
        let amount = self.rng.gen_range(style.yuan.0..=style.yuan.1) * YUAN;
        let margin = self.rng.gen_range(style.margin.0..=style.margin.1);
        // Most systems know the cost; a few orders (marketplace resales) do not.
        let cost = self.chance(92).then_some(amount * (100 - margin) / 100);
        let discounted = self.chance(style.discount_pct);
        let (discount_amount, coupon_code) = match (discounted, self.rng.gen_range(0..3)) {
            (false, _) => (0, None),
            (true, 0) => (0, Some(self.pick(COUPONS).to_owned())),
            (true, 1) => (amount / 10, Some(self.pick(COUPONS).to_owned())),
            (true, _) => (amount * self.rng.gen_range(5..=25) / 100, None),
        };
        let units = self.rng.gen_range(style.units.0..=style.units.1);
        let count = self
            .rng
            .gen_range(style.categories_per_order.0..=style.categories_per_order.1);
        let shelf = &self.shelf[..style.breadth.clamp(1, CATALOGUE.len())];
        let mut categories: Vec<String> = shelf
            .choose_multiple(self.rng, count.clamp(1, shelf.len()))
            .map(|c| (*c).to_owned())
            .collect();
        categories.sort();
        let channel = self.pick(style.channels);
        let measured = matches!(channel, Channel::Web | Channel::App);
        let consideration_seconds = style
            .consideration
            .filter(|_| measured)
            .map(|(lo, hi)| self.rng.gen_range(lo..=hi));
        let order = Order {
            order_id: order_id.clone(),
            amount,
            cost,
            discount_amount,
            coupon_code,
            units,
            categories,
            channel: Some(channel),
            consideration_seconds,
        };
        self.push(at, EventPayload::Order(order));
        (order_id, amount)
    }

    /// One order at an age in `lo..=hi` days.
    pub fn order_between(&mut self, lo: i64, hi: i64, style: &Shopping) -> (String, i64) {
        let at = self.between(lo, hi);
        self.order(at, style)
    }

    /// `count` orders at ages `lo..=hi` days, the first exactly `lo` days old, so the last
    /// purchase (and with it the activity period) lands where the persona needs it.
    pub fn orders(
        &mut self,
        count: usize,
        lo: i64,
        hi: i64,
        style: &Shopping,
    ) -> Vec<(Timestamp, String, i64)> {
        let mut placed = Vec::with_capacity(count);
        for n in 0..count {
            let at = if n == 0 {
                self.days_ago(lo)
            } else {
                self.between(lo, hi)
            };
            let (id, amount) = self.order(at, style);
            placed.push((at, id, amount));
        }
        placed
    }

    /// A refund of `amount` a few days after its order (never after `as_of`, never before the
    /// order).
    pub fn refund(&mut self, order_at: Timestamp, order_id: &str, amount: i64) {
        let room_days = order_at.days_until(self.as_of);
        if room_days < 1 || amount <= 0 {
            return;
        }
        let after = self.rng.gen_range(1..=room_days.min(7));
        let at = Timestamp::from_micros(order_at.micros() + after * MICROS_PER_DAY).min(self.as_of);
        let refund = Refund {
            order_id: order_id.to_owned(),
            amount,
        };
        self.push(at, EventPayload::Refund(refund));
    }

    pub fn interaction(&mut self, at: Timestamp, kind: InteractionKind) {
        let channel = match kind {
            InteractionKind::StoreVisit => Channel::Store,
            InteractionKind::InboundCall | InteractionKind::OutboundContact => Channel::Phone,
            _ => self.pick(&[Channel::Web, Channel::App]),
        };
        self.push(
            at,
            EventPayload::Interaction {
                kind,
                channel: Some(channel),
            },
        );
    }

    /// `count` interactions of the given kinds at ages `lo..=hi` days.
    pub fn interactions(&mut self, count: usize, lo: i64, hi: i64, kinds: &[InteractionKind]) {
        for _ in 0..count {
            let at = self.between(lo, hi);
            let kind = self.pick(kinds);
            self.interaction(at, kind);
        }
    }

    /// Opens a ticket `age` days ago; when `resolve_after` is given (days), a later update
    /// resolves it, if that day has come by `as_of`.
    pub fn ticket(
        &mut self,
        age: i64,
        kind: TicketKind,
        sentiment: Option<f64>,
        resolve_after: Option<i64>,
    ) {
        self.tickets += 1;
        let ticket_id = format!("t{:03}", self.tickets);
        let opened = self.days_ago(age);
        let update = |resolved, sentiment| {
            EventPayload::SupportTicket(TicketUpdate {
                ticket_id: ticket_id.clone(),
                kind,
                sentiment,
                resolved,
            })
        };
        self.push(opened, update(false, sentiment));
        if let Some(days) = resolve_after.filter(|&d| d >= 1 && d <= age) {
            let at = Timestamp::from_micros(opened.micros() + days * MICROS_PER_DAY);
            let calmer = sentiment.map(|s| (s + 0.5).min(1.0));
            self.push(at, update(true, calmer));
        }
    }

    pub fn survey(&mut self, at: Timestamp, kind: SurveyKind, score: u32) {
        self.push(at, EventPayload::Survey { kind, score });
    }

    pub fn review(&mut self, at: Timestamp, rating: u32) {
        self.push(at, EventPayload::Review { rating });
    }

    pub fn referral(&mut self, at: Timestamp, referred_id: Option<String>) {
        self.push(at, EventPayload::Referral { referred_id });
    }

    pub fn plan_change(&mut self, at: Timestamp, plan: Plan) {
        self.push(at, EventPayload::PlanChange { plan });
    }

    /// The events in chronological order with ids `demo-{customer}-{n}`. At one instant the
    /// creation order is kept, so a refund (created after its order) still follows it.
    pub fn finish(mut self) -> Vec<Event> {
        self.items.sort_by_key(|(at, _)| *at);
        let customer_id = self.customer_id;
        self.items
            .into_iter()
            .enumerate()
            .map(|(n, (at, payload))| Event {
                event_id: format!("demo-{customer_id}-{:04}", n + 1),
                customer_id: customer_id.clone(),
                at,
                payload,
            })
            .collect()
    }
}
