//! Validation of the playbook rows of a rule set (called by `RuleSet::validate`): each row on its
//! own, rows sharing an action code, the spec's required rows (and issue 5's high-value
//! win-back), and problems and that win-back before offers.

use super::super::dimensions::Dimension::{self, *};
use super::super::rules::{LocalizedText, RuleSet};
use super::{Condition, PlaybookRow, SpecialCondition, Touchpoint};

use Touchpoint::{AccountReview, Campaign, Checkout, InboundCall, SupportTicket};

const ANY: &[Touchpoint] = Touchpoint::ALL;

/// The spec's rows triggered by one segment, with the touchpoints each must reach.
const REQUIRED: &[(Dimension, &str, &[Touchpoint])] = &[
    (SalesPersona, "FREE", &[Checkout, Campaign]),
    (SalesPersona, "NEW", ANY),
    (Lifecycle, "NEW", &[Campaign, Checkout]),
    (SalesPersona, "BARGAIN_HUNTER", &[Checkout]),
    (SalesPersona, "IMPULSE", &[Checkout]),
    (SalesPersona, "INFORMED", &[Checkout, InboundCall]),
    (ServicePersona, "LOYAL", &[InboundCall, Campaign]),
    (ServicePersona, "BRAND_ADVOCATE", ANY),
    (ServicePersona, "CURIOUS", &[InboundCall, SupportTicket]),
    (ServicePersona, "DEMANDING", &[InboundCall, SupportTicket]),
    (ServicePersona, "ANGRY", &[InboundCall, SupportTicket]),
    (ServicePersona, "UNPREDICTABLE", &[InboundCall]),
    (ValueTier, "HIGH", ANY),
    (ValueTier, "MEDIUM", &[Campaign]),
    (ValueTier, "LOW", &[Campaign, AccountReview]),
    (Rfm, "IMPORTANT_VALUE", &[Campaign]),
    (Rfm, "IMPORTANT_DEVELOP", &[Campaign]),
    (Rfm, "IMPORTANT_KEEP", &[Campaign]),
    (Rfm, "IMPORTANT_RETAIN", &[Campaign]),
    (Rfm, "GENERAL_VALUE", &[Campaign]),
    (Rfm, "GENERAL_DEVELOP", &[Campaign]),
    (Rfm, "GENERAL_KEEP", &[Campaign]),
    (Rfm, "GENERAL_RETAIN", &[Campaign]),
    (Lifecycle, "POTENTIAL", ANY),
    (Lifecycle, "MATURE", &[Campaign]),
    (Lifecycle, "CHURNED", &[Campaign, AccountReview]),
    (ActivityPeriod, "SILENT", &[Campaign]),
    (ActivityPeriod, "FORGOTTEN", &[Campaign]),
    (ActivityPeriod, "LOST", &[Campaign]),
    (Satisfaction, "LOW", ANY),
    (Advocacy, "PROMOTER", &[Campaign]),
    (Advocacy, "DETRACTOR", &[InboundCall, Campaign]),
    (AccountQuadrant, "OLD_BIG", &[AccountReview]),
    (AccountQuadrant, "NEW_BIG", &[AccountReview]),
    (AccountQuadrant, "NEW_SMALL", &[AccountReview]),
    (AccountQuadrant, "OLD_SMALL", &[AccountReview]),
    (CustomerType, "PROBLEM", &[InboundCall, SupportTicket]),
    (CustomerType, "POTENTIAL", &[Campaign]),
    (DecisionStyle, "RATIONAL", &[InboundCall, Checkout]),
    (DecisionStyle, "EMOTIONAL", &[InboundCall, Checkout]),
];

/// The triggers whose recovery actions must outrank every sales action (spec section 4).
const PROBLEMS: &[(Dimension, &str)] = &[
    (ServicePersona, "ANGRY"),
    (Satisfaction, "LOW"),
    (Advocacy, "DETRACTOR"),
    (CustomerType, "PROBLEM"),
];

/// Appends one message per problem of the rule set's playbook.
pub(crate) fn check_playbook(rules: &RuleSet, problems: &mut Vec<String>) {
    let rows = &rules.playbook;
    for (index, row) in rows.iter().enumerate() {
        check_row(row, &label(index, row), problems);
        check_against_earlier(rows, index, problems);
    }
    check_required(rows, problems);
    check_outranks_sales(rows, is_problem_row, "a problem recovery", problems);
    check_outranks_sales(
        rows,
        is_high_value_win_back,
        "the high-value win-back",
        problems,
    );
}

fn label(index: usize, row: &PlaybookRow) -> String {
    format!("playbook row {} ({})", index + 1, row.code)
}

fn check_row(row: &PlaybookRow, at: &str, problems: &mut Vec<String>) {
    if row.code.trim().is_empty() {
        problems.push(format!("{at}: code is empty"));
    }
    if row.when.is_empty() {
        problems.push(format!("{at}: `when` needs at least one condition"));
    }
    if row.touchpoints.is_empty() {
        problems.push(format!("{at}: needs at least one touchpoint"));
    }
    if row.priority < 1 {
        problems.push(format!("{at}: priority must be at least 1"));
    }
    if row.channel.trim().is_empty() {
        problems.push(format!("{at}: channel is empty"));
    }
    for (list, conditions) in [("when", &row.when), ("unless", &row.unless)] {
        for condition in conditions {
            check_condition(condition, &format!("{at} {list}"), problems);
        }
    }
    check_text(&row.title, &format!("{at}: title"), problems);
    check_text(&row.script, &format!("{at}: script"), problems);
    if let Some(offer) = &row.offer {
        if offer.kind.trim().is_empty() {
            problems.push(format!("{at}: offer kind is empty"));
        }
        if offer.percent > 100 {
            problems.push(format!(
                "{at}: offer percent {} is above 100",
                offer.percent
            ));
        }
        if offer.days_valid < 1 {
            problems.push(format!("{at}: offer must stay valid at least 1 day"));
        }
    }
}

fn check_condition(condition: &Condition, at: &str, problems: &mut Vec<String>) {
    let Condition::Segment {
        dimension,
        segments,
    } = condition
    else {
        return;
    };
    if segments.is_empty() {
        problems.push(format!("{at}: condition on {dimension} names no segment"));
    }
    for code in segments {
        if !dimension.has_segment(code) {
            problems.push(format!(
                "{at}: {dimension} has no segment {code:?} (expected one of {})",
                dimension.segment_codes().join(", ")
            ));
        }
    }
}

/// Every locale's text must say something.
pub(crate) fn check_text(text: &LocalizedText, at: &str, problems: &mut Vec<String>) {
    if text.en.trim().is_empty() {
        problems.push(format!("{at}: the en text is empty"));
    }
    if text.zh_cn.trim().is_empty() {
        problems.push(format!("{at}: the zh-CN text is empty"));
    }
}

/// Rows sharing a code are one action: they must describe it alike, and not repeat a trigger.
fn check_against_earlier(rows: &[PlaybookRow], index: usize, problems: &mut Vec<String>) {
    let row = &rows[index];
    let Some(first) = rows[..index].iter().position(|r| r.code == row.code) else {
        return;
    };
    let earlier = &rows[first];
    let at = label(index, row);
    let same_action = row.title == earlier.title
        && row.script == earlier.script
        && row.channel == earlier.channel
        && row.contacts_customer == earlier.contacts_customer
        && row.offer == earlier.offer;
    if !same_action {
        problems.push(format!(
            "{at}: shares its code with row {} but not its title, script, channel, \
             contacts_customer and offer",
            first + 1
        ));
    }
    if let Some(twin) = rows[..index]
        .iter()
        .position(|r| r.code == row.code && r.when == row.when && r.unless == row.unless)
    {
        problems.push(format!(
            "{at}: repeats the code and conditions of row {}",
            twin + 1
        ));
    }
}

fn names(row: &PlaybookRow, dimension: Dimension, code: &str) -> bool {
    row.when.iter().any(|c| {
        matches!(c, Condition::Segment { dimension: d, segments } if *d == dimension
            && segments.iter().any(|s| s == code))
    })
}

fn names_birthday(row: &PlaybookRow) -> bool {
    row.when
        .contains(&Condition::Special(SpecialCondition::BirthdayWithinDays))
}

/// Some row must satisfy `covers`, and together those rows must reach every touchpoint of `at`.
fn check_reach(
    rows: &[PlaybookRow],
    covers: impl Fn(&PlaybookRow) -> bool,
    at: &[Touchpoint],
    what: &str,
    problems: &mut Vec<String>,
) {
    let covering: Vec<&PlaybookRow> = rows.iter().filter(|r| covers(r)).collect();
    let missing: Vec<&str> = at
        .iter()
        .filter(|t| !covering.iter().any(|r| r.touchpoints.includes(**t)))
        .map(|t| t.code())
        .collect();
    if covering.is_empty() {
        problems.push(format!("playbook has no row for {what} (spec section 4)"));
    } else if !missing.is_empty() {
        problems.push(format!(
            "playbook rows for {what} do not reach {} (spec section 4)",
            missing.join(", ")
        ));
    }
}

fn check_required(rows: &[PlaybookRow], problems: &mut Vec<String>) {
    for &(dimension, code, at) in REQUIRED {
        let what = format!("{dimension} {code}");
        check_reach(rows, |r| names(r, dimension, code), at, &what, problems);
    }
    let birthday_at = &[Campaign, InboundCall];
    check_reach(rows, names_birthday, birthday_at, "the birthday", problems);
    check_reach(
        rows,
        |r| names_birthday(r) && names(r, ValueTier, "HIGH"),
        birthday_at,
        "the birthday gift of value_tier HIGH",
        problems,
    );
    check_reach(
        rows,
        is_high_value_win_back,
        &[Campaign, AccountReview],
        "the win-back of churn_risk HIGH with predicted_value_tier HIGH",
        problems,
    );
}

/// Issue 5: a high predicted value at high churn risk gets the most urgent win-back action.
fn is_high_value_win_back(row: &PlaybookRow) -> bool {
    names(row, ChurnRisk, "HIGH") && names(row, PredictedValueTier, "HIGH")
}

fn is_problem_row(row: &PlaybookRow) -> bool {
    PROBLEMS.iter().any(|&(d, code)| names(row, d, code))
}

/// A sales action offers something or answers a sales persona.
fn is_sales_row(row: &PlaybookRow) -> bool {
    !is_problem_row(row)
        && (row.offer.is_some()
            || row.when.iter().any(
                |c| matches!(c, Condition::Segment { dimension, .. } if *dimension == SalesPersona),
            ))
}

/// Every row `is_target` picks must be more urgent than every sales action.
fn check_outranks_sales(
    rows: &[PlaybookRow],
    is_target: fn(&PlaybookRow) -> bool,
    what: &str,
    problems: &mut Vec<String>,
) {
    let Some((sales_index, sales)) = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| is_sales_row(r))
        .min_by_key(|(i, r)| (r.priority, *i))
    else {
        return;
    };
    for (index, row) in rows.iter().enumerate().filter(|(_, r)| is_target(r)) {
        if row.priority >= sales.priority {
            problems.push(format!(
                "{}: {what} must outrank every sales action, but its priority {} \
                 is not more urgent than {} of {}",
                label(index, row),
                row.priority,
                sales.priority,
                label(sales_index, sales)
            ));
        }
    }
}
