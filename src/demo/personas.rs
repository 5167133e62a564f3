//! The personas of the demo population (the customer types of the spec's sources) and the
//! story each one's history tells. Ages are in days before the demo's `as_of`; the lookback
//! window is 365 days, activity periods end at 30/90/180 days, "new" means within 90 days.

use rand::Rng;

use super::builder::{Builder, Shopping};
use super::customer_id;
use crate::domain::history::{Channel, InteractionKind as Ik, Plan, SurveyKind, TicketKind};

/// Who a demo customer is; decides the shape of their history and profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Persona {
    Champion,
    LoyalDealer,
    SlippingKeyAccount,
    NewBigAccount,
    NewSmall,
    BargainHunter,
    ImpulseBuyer,
    InformedResearcher,
    FreeOrTrialUser,
    OneTimeBuyer,
    ChurnedBigSpender,
    Silent,
    Forgotten,
    Lost,
    AngryComplainer,
    DemandingEscalator,
    CuriousAsker,
    Promoter,
    Passive,
    Detractor,
    ProblemRefunder,
    LoyalFullPrice,
    Prospect,
}

/// The population mix, in customers per thousand (sums to 1,000).
pub const MIX: &[(Persona, u32)] = &[
    (Persona::Champion, 40),
    (Persona::LoyalDealer, 25),
    (Persona::SlippingKeyAccount, 20),
    (Persona::NewBigAccount, 20),
    (Persona::NewSmall, 70),
    (Persona::BargainHunter, 65),
    (Persona::ImpulseBuyer, 55),
    (Persona::InformedResearcher, 45),
    (Persona::FreeOrTrialUser, 60),
    (Persona::OneTimeBuyer, 80),
    (Persona::ChurnedBigSpender, 30),
    (Persona::Silent, 55),
    (Persona::Forgotten, 40),
    (Persona::Lost, 45),
    (Persona::AngryComplainer, 30),
    (Persona::DemandingEscalator, 20),
    (Persona::CuriousAsker, 30),
    (Persona::Promoter, 40),
    (Persona::Passive, 40),
    (Persona::Detractor, 30),
    (Persona::ProblemRefunder, 30),
    (Persona::LoyalFullPrice, 70),
    (Persona::Prospect, 60),
];

impl Persona {
    /// Companies (dealers, B2B accounts) rather than consumers: ERP ids, company names.
    pub fn is_business(self) -> bool {
        matches!(
            self,
            Persona::LoyalDealer
                | Persona::SlippingKeyAccount
                | Persona::NewBigAccount
                | Persona::ChurnedBigSpender
        )
    }
}

const BROWSING: &[Ik] = &[Ik::SiteVisit, Ik::ProductView, Ik::SiteVisit, Ik::Chat];
const RESEARCH: &[Ik] = &[Ik::ProductView, Ik::Comparison, Ik::ReviewRead];
const B2B_CHANNELS: &[Channel] = &[Channel::Dealer, Channel::Phone];

fn big_account() -> Shopping {
    Shopping {
        yuan: (1_500, 8_000),
        margin: (15, 30),
        discount_pct: 10,
        units: (5, 40),
        categories_per_order: (1, 3),
        breadth: 8,
        channels: &[Channel::Dealer, Channel::Phone, Channel::Web],
        consideration: None,
    }
}

fn small_basket() -> Shopping {
    Shopping {
        yuan: (30, 250),
        units: (1, 2),
        categories_per_order: (1, 1),
        ..Shopping::everyday()
    }
}

/// Writes the persona's history. A promoter's referrals name other customers of the population.
pub fn write_history(persona: Persona, b: &mut Builder, population: usize) {
    let everyday = Shopping::everyday();
    match persona {
        Persona::Champion => {
            b.order_between(400, 700, &everyday);
            let style = Shopping {
                yuan: (600, 4_000),
                margin: (25, 40),
                discount_pct: 15,
                units: (1, 4),
                categories_per_order: (1, 3),
                breadth: 10,
                ..everyday
            };
            let newest = b.rng.gen_range(1..=12);
            let count = b.rng.gen_range(12..=25);
            b.orders(count, newest, 350, &style);
            let visits = b.rng.gen_range(6..=14);
            b.interactions(
                visits,
                1,
                85,
                &[Ik::SiteVisit, Ik::StoreVisit, Ik::Chat, Ik::ProductView],
            );
            csat(b, 1..=2, 4..=5, 5, 200);
            if b.chance(40) {
                nps(b, 9..=10);
            }
        }
        Persona::LoyalDealer => {
            let style = Shopping {
                yuan: (3_000, 20_000),
                margin: (4, 10),
                units: (20, 200),
                channels: &[Channel::Dealer],
                ..big_account()
            };
            b.order_between(500, 730, &style);
            let newest = b.rng.gen_range(1..=25);
            let count = b.rng.gen_range(15..=30);
            b.orders(count, newest, 360, &style);
            let calls = b.rng.gen_range(1..=4);
            b.interactions(calls, 1, 85, &[Ik::InboundCall]);
            if b.chance(50) {
                csat(b, 1..=2, 3..=4, 10, 300);
            }
        }
        Persona::SlippingKeyAccount => {
            b.order_between(380, 700, &big_account());
            let newest = b.rng.gen_range(100..=150);
            let count = b.rng.gen_range(10..=18);
            b.orders(count, newest, 340, &big_account());
            let calls = b.rng.gen_range(0..=2);
            b.interactions(calls, 100, 200, &[Ik::InboundCall]);
        }
        Persona::NewBigAccount => {
            let style = Shopping {
                yuan: (8_000, 40_000),
                units: (10, 100),
                channels: B2B_CHANNELS,
                ..big_account()
            };
            let newest = b.rng.gen_range(3..=40);
            let count = b.rng.gen_range(1..=2);
            b.orders(count, newest, 80, &style);
            let research = b.rng.gen_range(3..=10);
            b.interactions(research, newest, 85, RESEARCH);
        }
        Persona::NewSmall => {
            let newest = b.rng.gen_range(1..=60);
            let count = b.rng.gen_range(1..=3);
            b.orders(count, newest, 85, &small_basket());
            let visits = b.rng.gen_range(0..=10);
            b.interactions(visits, 1, 85, BROWSING);
            if b.chance(30) {
                let at = b.between(newest, 85);
                b.plan_change(at, Plan::Paid);
            }
        }
        Persona::BargainHunter => {
            let style = Shopping {
                yuan: (30, 300),
                margin: (5, 20),
                discount_pct: 85,
                ..everyday
            };
            b.order_between(120, 500, &style);
            let newest = b.rng.gen_range(1..=45);
            let count = b.rng.gen_range(5..=12);
            b.orders(count, newest, 330, &style);
            let visits = b.rng.gen_range(1..=6);
            b.interactions(visits, 1, 120, BROWSING);
        }
        Persona::ImpulseBuyer => {
            let style = Shopping {
                yuan: (80, 900),
                margin: (25, 45),
                discount_pct: 15,
                channels: &[Channel::Web, Channel::App],
                consideration: Some((30, 800)),
                ..everyday
            };
            b.order_between(120, 500, &style);
            let newest = b.rng.gen_range(1..=40);
            let count = b.rng.gen_range(4..=10);
            b.orders(count, newest, 300, &style);
            let visits = b.rng.gen_range(2..=8);
            b.interactions(visits, 1, 100, &[Ik::SiteVisit]);
        }
        Persona::InformedResearcher => {
            let style = Shopping {
                yuan: (800, 8_000),
                margin: (20, 35),
                discount_pct: 10,
                consideration: Some((345_600, 1_728_000)),
                ..everyday
            };
            b.order_between(150, 600, &style);
            let newest = b.rng.gen_range(5..=80);
            let count = b.rng.gen_range(2..=5);
            b.orders(count, newest, 330, &style);
            let research = count * b.rng.gen_range(6..=10);
            b.interactions(research, 1, 360, RESEARCH);
        }
        Persona::FreeOrTrialUser => {
            if b.chance(40) {
                let at = b.between(5, 60);
                b.plan_change(at, Plan::Trial);
            }
            let visits = b.rng.gen_range(1..=12);
            b.interactions(visits, 1, 120, BROWSING);
            if b.chance(30) {
                let age = b.rng.gen_range(3..=120);
                b.ticket(age, TicketKind::Question, Some(0.2), Some(1));
            }
        }
        Persona::OneTimeBuyer => {
            let style = Shopping {
                units: (1, 1),
                ..small_basket()
            };
            let age = if b.chance(80) {
                b.rng.gen_range(95..=350)
            } else {
                b.rng.gen_range(400..=700)
            };
            b.order_between(age, age, &style);
            let visits = b.rng.gen_range(0..=2);
            b.interactions(visits, 1, 300, BROWSING);
        }
        Persona::ChurnedBigSpender => {
            if b.chance(50) {
                let count = b.rng.gen_range(1..=3);
                b.orders(count, 400, 700, &big_account());
            }
            let style = Shopping {
                yuan: (5_000, 30_000),
                ..big_account()
            };
            let newest = b.rng.gen_range(190..=260);
            let count = b.rng.gen_range(1..=3);
            b.orders(count, newest, 350, &style);
        }
        Persona::Silent | Persona::Forgotten => {
            let (newest, oldest) = match persona {
                Persona::Silent => (b.rng.gen_range(31..=88), 330),
                _ => (b.rng.gen_range(92..=178), 340),
            };
            b.order_between(150, 700, &everyday);
            let count = b.rng.gen_range(2..=10);
            b.orders(count, newest, oldest, &everyday);
            let visits = b.rng.gen_range(0..=4);
            b.interactions(visits, 1, 200, BROWSING);
        }
        Persona::Lost => {
            let count = b.rng.gen_range(1..=5);
            if b.chance(50) {
                let newest = b.rng.gen_range(182..=300);
                b.orders(count, newest, 360, &everyday);
            } else {
                let newest = b.rng.gen_range(370..=600);
                b.orders(count, newest, 700, &everyday);
            }
        }
        Persona::AngryComplainer => {
            shopper(b, 2..=6, 3..=60);
            let kind = if b.chance(70) {
                TicketKind::Complaint
            } else {
                TicketKind::Claim
            };
            let age = b.rng.gen_range(2..=60);
            let sentiment = -b.rng.gen_range(0.6..=1.0);
            b.ticket(age, kind, Some(round2(sentiment)), None);
            if b.chance(50) {
                let at = b.between(1, 25);
                let score = b.rng.gen_range(1..=2);
                b.survey(at, SurveyKind::Csat, score);
            }
            if b.chance(30) {
                for _ in 0..2 {
                    let age = b.rng.gen_range(61..=170);
                    b.ticket(age, TicketKind::Complaint, Some(-0.4), Some(3));
                }
            }
            let calls = b.rng.gen_range(1..=3);
            b.interactions(calls, 1, 60, &[Ik::InboundCall]);
            let at = b.between(1, 60);
            b.review(at, 1);
        }
        Persona::DemandingEscalator => {
            shopper(b, 3..=8, 1..=40);
            if b.chance(60) {
                for _ in 0..b.rng.gen_range(2..=3) {
                    let age = b.rng.gen_range(3..=80);
                    b.ticket(age, TicketKind::Escalation, Some(-0.2), Some(2));
                }
            } else {
                for _ in 0..b.rng.gen_range(3..=4) {
                    let age = b.rng.gen_range(2..=28);
                    let kind = b.pick(&[TicketKind::Question, TicketKind::Escalation]);
                    b.ticket(age, kind, Some(0.0), Some(1));
                }
            }
        }
        Persona::CuriousAsker => {
            shopper(b, 1..=5, 5..=120);
            // At most two within 30 days: three would make the asker DEMANDING instead.
            for _ in 0..b.rng.gen_range(3..=5) {
                let age = b.rng.gen_range(31..=88);
                b.ticket(age, TicketKind::Question, Some(0.3), Some(1));
            }
            if b.chance(50) {
                let age = b.rng.gen_range(2..=29);
                b.ticket(age, TicketKind::Question, Some(0.4), Some(1));
            }
            csat(b, 1..=2, 3..=5, 5, 120);
        }
        Persona::Promoter => {
            shopper(b, 3..=10, 1..=50);
            match b.rng.gen_range(0..100) {
                0..=69 => nps(b, 9..=10),
                70..=84 => nps(b, 7..=8),
                _ => {}
            }
            for _ in 0..b.rng.gen_range(1..=3) {
                let at = b.between(10, 300);
                let referred = customer_id(b.rng.gen_range(0..population.max(1)), population);
                b.referral(at, Some(referred));
            }
            let at = b.between(5, 200);
            let rating = b.rng.gen_range(4..=5);
            b.review(at, rating);
            csat(b, 0..=2, 4..=5, 5, 300);
        }
        Persona::Passive => {
            shopper(b, 2..=8, 1..=120);
            nps(b, 7..=8);
            csat(b, 1..=2, 3..=4, 5, 300);
        }
        Persona::Detractor => {
            shopper(b, 1..=6, 1..=150);
            nps(b, 0..=6);
            csat(b, 1..=2, 2..=3, 5, 300);
            let at = b.between(5, 200);
            let rating = b.rng.gen_range(1..=2);
            b.review(at, rating);
        }
        Persona::ProblemRefunder => problem_refunder(b),
        Persona::LoyalFullPrice => loyal_full_price(b),
        Persona::Prospect => {
            if b.chance(30) {
                let visits = b.rng.gen_range(6..=15);
                b.interactions(
                    visits,
                    1,
                    85,
                    &[Ik::SiteVisit, Ik::ProductView, Ik::Chat, Ik::StoreVisit],
                );
            } else {
                let visits = b.rng.gen_range(1..=5);
                let kinds = [
                    Ik::SiteVisit,
                    Ik::StoreVisit,
                    Ik::InboundCall,
                    Ik::ProductView,
                ];
                b.interactions(visits, 1, 200, &kinds);
            }
        }
    }
}

/// An ordinary buyer for the service-side personas: first order up to two years back.
fn shopper(
    b: &mut Builder,
    count: std::ops::RangeInclusive<usize>,
    newest: std::ops::RangeInclusive<i64>,
) {
    let everyday = Shopping::everyday();
    b.order_between(100, 700, &everyday);
    let newest = b.rng.gen_range(newest);
    let count = b.rng.gen_range(count);
    b.orders(count, newest, 330, &everyday);
}

/// `answers` CSAT answers scoring in `scores`, aged `lo..=hi` days.
fn csat(
    b: &mut Builder,
    answers: std::ops::RangeInclusive<usize>,
    scores: std::ops::RangeInclusive<u32>,
    lo: i64,
    hi: i64,
) {
    for _ in 0..b.rng.gen_range(answers) {
        let at = b.between(lo, hi);
        let score = b.rng.gen_range(scores.clone());
        b.survey(at, SurveyKind::Csat, score);
    }
}

fn nps(b: &mut Builder, scores: std::ops::RangeInclusive<u32>) {
    let at = b.between(10, 250);
    let score = b.rng.gen_range(scores);
    b.survey(at, SurveyKind::Nps, score);
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Returns a lot: about half the orders refunded in large part, so the refund rate passes 30 %;
/// one in five is a non-buyer whose only order came back in full.
fn problem_refunder(b: &mut Builder) {
    let everyday = Shopping::everyday();
    if b.chance(20) {
        let at = b.between(20, 200);
        let (order_id, amount) = b.order(at, &everyday);
        b.refund(at, &order_id, amount);
        return;
    }
    let newest = b.rng.gen_range(10..=60);
    let count = b.rng.gen_range(3..=8);
    let orders = b.orders(count, newest, 330, &everyday);
    for (n, (at, order_id, amount)) in orders.into_iter().enumerate() {
        if n % 2 == 0 {
            let share = b.rng.gen_range(60..=100);
            b.refund(at, &order_id, amount * share / 100);
        }
    }
    let age = b.rng.gen_range(5..=170);
    b.ticket(age, TicketKind::Claim, Some(-0.3), Some(4));
}

/// Years of steady full-price buying, a little less lately: loyal, outside the top tier, with a
/// falling spend trend (so neither POTENTIAL nor CONVENIENCE in customer type).
fn loyal_full_price(b: &mut Builder) {
    let full_price = |yuan| Shopping {
        yuan,
        discount_pct: 0,
        ..Shopping::everyday()
    };
    b.order_between(400, 720, &full_price((80, 400)));
    let older = b.rng.gen_range(3..=6);
    b.orders(older, 181, 360, &full_price((80, 400)));
    // Every recent basket is smaller than every one of the (at least as many) before it.
    let recent = b.rng.gen_range(1..=2);
    let previous = recent + b.rng.gen_range(0..=1);
    b.orders(previous, 91, 175, &full_price((250, 400)));
    let newest = b.rng.gen_range(5..=60);
    b.orders(recent, newest, 85, &full_price((80, 200)));
    if b.chance(50) {
        csat(b, 1..=1, 4..=5, 10, 300);
    }
    let visits = b.rng.gen_range(0..=3);
    b.interactions(visits, 1, 200, BROWSING);
}
