//! Demo profiles: names, aliases, birthdays, plans, decision styles and attributes. Aliases are
//! unique by construction (derived from the customer's index through bijections), so a load
//! never trips over `AliasTaken`.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::personas::Persona;
use crate::domain::dimensions::Dimension;
use crate::domain::history::{Birthday, CustomerProfile, DecisionStyle, ExternalId, Plan};
use crate::domain::time::Timestamp;

const SURNAMES: &[&str] = &[
    "Li", "Wang", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun", "Hu",
    "Zhu", "Gao", "Lin", "He", "Guo", "Ma", "Luo",
];
const GIVEN_NAMES: &[&str] = &[
    "Wei", "Fang", "Na", "Min", "Jing", "Lei", "Yang", "Jun", "Yan", "Tao", "Ming", "Chao", "Xiu",
    "Hui", "Qiang", "Ping", "Lan", "Hao", "Yu", "Xin",
];
const COMPANY_WORDS: &[&str] = &[
    "Xinda", "Huamei", "Jinlong", "Tianyi", "Hengtong", "Dongfang", "Ruifeng", "Baisheng",
];
const COMPANY_KINDS: &[&str] = &[
    "Trading Co.",
    "Retail Ltd.",
    "Distribution Co.",
    "Supply Chain Ltd.",
];
pub const REGIONS: &[&str] = &[
    "Hangzhou",
    "Shanghai",
    "Beijing",
    "Shenzhen",
    "Guangzhou",
    "Chengdu",
    "Wuhan",
    "Nanjing",
    "Xi'an",
    "Suzhou",
];
const AGE_BANDS: &[&str] = &["18-24", "25-29", "30-39", "40-49", "50-59", "60+"];
const INCOME_BANDS: &[&str] = &["low", "middle", "upper-middle", "high"];
const OCCUPATIONS: &[&str] = &[
    "engineer",
    "teacher",
    "student",
    "civil servant",
    "self-employed",
    "retired",
];
const INDUSTRIES: &[&str] = &[
    "retail",
    "hospitality",
    "education",
    "manufacturing",
    "healthcare",
];

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

/// A number in `0..modulus` unique per `n < modulus` (multiplication by a prime coprime to the
/// modulus is a bijection), so aliases look random yet never collide.
fn scramble(n: u64, modulus: u64) -> u64 {
    (n.wrapping_mul(7_919).wrapping_add(104_729)) % modulus
}

/// The profile of customer `index`, or `None` for the few known only from events.
pub fn profile(
    persona: Persona,
    index: usize,
    customer_id: &str,
    as_of: Timestamp,
    rng: &mut ChaCha8Rng,
) -> Option<CustomerProfile> {
    let has_profile = match persona {
        Persona::Prospect => rng.gen_range(0..100) < 60,
        _ => rng.gen_range(0..100) < 97,
    };
    if !has_profile {
        return None;
    }
    let n = index as u64;
    let business = persona.is_business();
    let mut p = CustomerProfile {
        id: customer_id.to_owned(),
        region: Some(pick(rng, REGIONS).to_owned()),
        ..CustomerProfile::default()
    };

    let (given, surname) = (pick(rng, GIVEN_NAMES), pick(rng, SURNAMES));
    if business {
        let region = p.region.as_deref().unwrap_or("Hangzhou");
        let word = pick(rng, COMPANY_WORDS);
        p.display_name = Some(format!("{region} {word} {}", pick(rng, COMPANY_KINDS)));
        p.external_ids.push(ExternalId {
            system: "erp".into(),
            key: format!("K-{}", 10_000 + n),
        });
        p.emails
            .push(format!("purchasing.{n}@{}.example.cn", word.to_lowercase()));
        p.attributes.insert(
            "segment".into(),
            if persona == Persona::LoyalDealer {
                "dealer"
            } else {
                "b2b"
            }
            .into(),
        );
        p.attributes
            .insert("industry".into(), pick(rng, INDUSTRIES).into());
        if rng.gen_range(0..100) < 4 {
            // A contract says so: pins win over the rules (and are reported as pinned).
            p.pins = BTreeMap::from([(Dimension::ValueTier, "HIGH".to_owned())]);
        }
    } else {
        p.display_name = Some(format!("{surname} {given}"));
        if rng.gen_range(0..100) < 70 {
            p.emails.push(format!(
                "{}.{}.{n}@example.com",
                given.to_lowercase(),
                surname.to_lowercase()
            ));
        }
        if rng.gen_range(0..100) < 60 {
            p.external_ids.push(ExternalId {
                system: "shop".into(),
                key: format!("u_{:07}", scramble(n, 10_000_000)),
            });
        }
        p.birthday = birthday(rng, as_of);
        p.attributes
            .insert("age_band".into(), pick(rng, AGE_BANDS).into());
        p.attributes
            .insert("gender".into(), pick(rng, &["f", "m"]).into());
        p.attributes
            .insert("income_band".into(), pick(rng, INCOME_BANDS).into());
        if rng.gen_range(0..100) < 40 {
            p.attributes
                .insert("occupation".into(), pick(rng, OCCUPATIONS).into());
        }
    }
    if rng.gen_range(0..100) < 90 {
        let prefix = rng.gen_range(3..=9);
        p.phones
            .push(format!("+861{prefix}{:09}", scramble(2 * n, 1_000_000_000)));
        if rng.gen_range(0..100) < 10 {
            p.phones.push(format!(
                "+861{prefix}{:09}",
                scramble(2 * n + 1, 1_000_000_000)
            ));
        }
    }

    p.plan = match persona {
        Persona::FreeOrTrialUser => Some(if rng.gen_range(0..100) < 60 {
            Plan::Free
        } else {
            Plan::Trial
        }),
        Persona::Prospect => None,
        _ => (rng.gen_range(0..100) < 50).then_some(Plan::Paid),
    };
    let rational_pct = if persona == Persona::InformedResearcher {
        30
    } else {
        7
    };
    p.decision_style = match rng.gen_range(0..100) {
        x if x < rational_pct => Some(DecisionStyle::Rational),
        x if x < rational_pct + 7 => Some(DecisionStyle::Emotional),
        _ => None,
    };
    Some(p)
}

/// Three in four consumers give a birthday; one in twenty-five of those falls within the week
/// after `as_of`, so birthday greetings show up in the demo.
fn birthday(rng: &mut ChaCha8Rng, as_of: Timestamp) -> Option<Birthday> {
    if rng.gen_range(0..100) >= 75 {
        return None;
    }
    if rng.gen_range(0..100) < 4 {
        let days = rng.gen_range(0..=6);
        let (_, month, day) = as_of.plus_seconds(days * 86_400).civil_date();
        return Some(Birthday { month, day });
    }
    let month = rng.gen_range(1..=12);
    let last_day = match month {
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    Some(Birthday {
        month,
        day: rng.gen_range(1..=last_day),
    })
}
