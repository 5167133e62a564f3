//! The recommendation engine: matching rows, ranking, merging shared actions, contact policy.

use super::super::dimensions::{Classification, Dimension, NONE};
use super::super::history::Birthday;
use super::super::rules::{ContactCap, Locale, RuleSet};
use super::conditions::Facts;
use super::{PlaybookRow, RecommendedAction, Touchpoint, Trigger, TOUCHPOINT_CHANNEL};

/// What `recommend` needs to know about one contact with one customer.
#[derive(Debug, Clone, Copy)]
pub struct ActionRequest<'a> {
    pub classification: &'a Classification,
    /// The profile's birthday; `None` when unknown.
    pub birthday: Option<Birthday>,
    pub touchpoint: Touchpoint,
    pub locale: Locale,
    /// At most this many actions, counted after ranking with suppressed ones included;
    /// `None` or `Some(0)` mean all (the proto's 0).
    pub max_actions: Option<usize>,
    /// Value of the current cart in minor units. The playbook has no cart condition yet, so it
    /// does not change the result; it is carried for callers and future rows.
    pub cart_value: Option<i64>,
}

/// One action code with the row that ranks it and every trigger that asked for it.
struct Pick<'a> {
    row: &'a PlaybookRow,
    index: usize,
    triggers: Vec<Trigger>,
}

/// The ranked actions the rule set's playbook recommends for this customer at this touchpoint.
pub fn recommend(rules: &RuleSet, request: &ActionRequest<'_>) -> Vec<RecommendedAction> {
    let facts = Facts {
        classification: request.classification,
        birthday: request.birthday,
        birthday_days_ahead: rules.birthday.days_ahead,
    };
    let mut picks: Vec<Pick<'_>> = Vec::new();
    for (index, row) in rules.playbook.iter().enumerate() {
        let applies = row.touchpoints.includes(request.touchpoint)
            && row.when.iter().all(|c| c.holds(&facts))
            && !row.unless.iter().any(|c| c.holds(&facts));
        if !applies {
            continue;
        }
        let found = picks.iter().position(|p| p.row.code == row.code);
        let slot = found.unwrap_or_else(|| {
            picks.push(Pick {
                row,
                index,
                triggers: Vec::new(),
            });
            picks.len() - 1
        });
        let pick = &mut picks[slot];
        // The most urgent row of a shared action ranks it; rows are visited in order, so a
        // strict comparison keeps the earlier row on ties.
        if row.priority < pick.row.priority {
            pick.row = row;
            pick.index = index;
        }
        for trigger in row.when.iter().map(|c| c.trigger(&facts)) {
            if !pick.triggers.contains(&trigger) {
                pick.triggers.push(trigger);
            }
        }
    }
    picks.sort_by_key(|p| (p.row.priority, p.index));
    let limit = request.max_actions.filter(|&n| n > 0).unwrap_or(usize::MAX);
    let policy = ContactPolicy::for_customer(rules, &facts);
    picks
        .into_iter()
        .take(limit)
        .map(|pick| {
            let row = pick.row;
            let held_to_policy =
                row.contacts_customer && !request.touchpoint.is_customer_initiated();
            let suppression_reason = if held_to_policy {
                policy.refusal(rules, request.locale)
            } else {
                None
            };
            let channel = if row.channel == TOUCHPOINT_CHANNEL {
                request.touchpoint.own_channel().to_owned()
            } else {
                row.channel.clone()
            };
            RecommendedAction {
                code: row.code.clone(),
                title: row.title.get(request.locale).to_owned(),
                script: row.script.get(request.locale).to_owned(),
                channel,
                priority: row.priority,
                offer: row.offer.clone(),
                triggers: pick.triggers,
                suppressed: suppression_reason.is_some(),
                suppression_reason,
            }
        })
        .collect()
}

/// The contact cap of the customer's activity period and the contacts already made against it.
struct ContactPolicy<'a> {
    period: &'a str,
    cap: &'a ContactCap,
    contacts: u64,
}

impl<'a> ContactPolicy<'a> {
    fn for_customer(rules: &'a RuleSet, facts: &Facts<'a>) -> Self {
        let period = facts.code(Dimension::ActivityPeriod).unwrap_or(NONE);
        let activity = &rules.activity;
        let cap = match period {
            "SILENT" => &activity.silent_cap,
            "FORGOTTEN" => &activity.forgotten_cap,
            "LOST" => &activity.lost_cap,
            // ACTIVE, and NONE: a customer without purchases has not been worn out by contacts
            // about purchases yet, so the most open cap applies to prospects too.
            _ => &activity.active_cap,
        };
        let features = &facts.classification.features;
        let contacts = if cap.per_days == 90 {
            features.outbound_contacts_90d
        } else {
            features.outbound_contacts_30d
        };
        Self {
            period,
            cap,
            contacts,
        }
    }

    /// `Some(reason)` when the cap is reached (count >= cap), in the requested locale.
    fn refusal(&self, rules: &RuleSet, locale: Locale) -> Option<String> {
        if self.contacts < self.cap.max_contacts {
            return None;
        }
        let (period, days, count, cap) = (
            self.period,
            self.cap.per_days,
            self.contacts,
            self.cap.max_contacts,
        );
        let name = rules.display_name(Dimension::ActivityPeriod, period, locale);
        Some(match locale {
            Locale::En => format!(
                "contact cap reached: {count} outbound contacts in the last {days} days, \
                 the cap for activity period {period} ({name}) is {cap}"
            ),
            Locale::ZhCn => format!(
                "已达联系上限：近 {days} 天已主动联系 {count} 次，\
                 活跃度分期 {period}（{name}）的上限为 {cap} 次"
            ),
        })
    }
}
