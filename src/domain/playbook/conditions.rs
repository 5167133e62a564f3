//! The conditions of a playbook row and the touchpoints it applies at: their rule-set syntax and
//! how they are evaluated against one classified customer.

use serde::{Deserialize, Serialize};

use super::super::dimensions::{Classification, Dimension};
use super::super::history::{code_enum, Birthday};
use super::super::time::{days_from_civil, is_leap_year, Timestamp};
use super::{Touchpoint, Trigger};

code_enum!(
    /// A condition that is not a segment of a dimension. `birthday_within_days`: the customer's
    /// birthday falls within `birthday.days_ahead` days of `as_of`'s date.
    SpecialCondition {
        BirthdayWithinDays => "birthday_within_days",
    }
);

impl SpecialCondition {
    /// The trigger name reported for the rule (the proto's "rule name such as BIRTHDAY").
    pub fn trigger_code(self) -> &'static str {
        match self {
            SpecialCondition::BirthdayWithinDays => "BIRTHDAY",
        }
    }
}

/// One condition of a row: `{ dimension = "sales_persona", segments = ["NEW"] }` holds when the
/// customer's primary segment of that dimension is one of `segments` (secondary traits do not
/// count); `{ special = "birthday_within_days" }` holds by its own rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawCondition", into = "RawCondition")]
pub enum Condition {
    Segment {
        dimension: Dimension,
        segments: Vec<String>,
    },
    Special(SpecialCondition),
}

/// The table as written in the rule set; converted so a mistake gets a message naming the fix.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dimension: Option<Dimension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    segments: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    special: Option<SpecialCondition>,
}

impl TryFrom<RawCondition> for Condition {
    type Error = String;

    fn try_from(raw: RawCondition) -> Result<Self, Self::Error> {
        match raw {
            RawCondition {
                dimension: Some(dimension),
                segments: Some(segments),
                special: None,
            } => Ok(Condition::Segment {
                dimension,
                segments,
            }),
            RawCondition {
                dimension: None,
                segments: None,
                special: Some(special),
            } => Ok(Condition::Special(special)),
            _ => Err(
                "a condition is either { dimension = \"...\", segments = [\"...\"] } \
                      or { special = \"birthday_within_days\" }"
                    .to_owned(),
            ),
        }
    }
}

impl From<Condition> for RawCondition {
    fn from(condition: Condition) -> Self {
        match condition {
            Condition::Segment {
                dimension,
                segments,
            } => RawCondition {
                dimension: Some(dimension),
                segments: Some(segments),
                special: None,
            },
            Condition::Special(special) => RawCondition {
                dimension: None,
                segments: None,
                special: Some(special),
            },
        }
    }
}

/// The touchpoints a row applies at: `"ANY"` or a list such as `["CHECKOUT", "CAMPAIGN"]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTouchpoints", into = "RawTouchpoints")]
pub enum TouchpointSet {
    Any,
    Only(Vec<Touchpoint>),
}

impl TouchpointSet {
    pub fn includes(&self, touchpoint: Touchpoint) -> bool {
        match self {
            TouchpointSet::Any => true,
            TouchpointSet::Only(list) => list.contains(&touchpoint),
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, TouchpointSet::Only(list) if list.is_empty())
    }
}

const ANY: &str = "ANY";

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RawTouchpoints {
    Word(String),
    List(Vec<String>),
}

fn touchpoint_codes() -> String {
    let codes: Vec<&str> = Touchpoint::ALL.iter().map(|t| t.code()).collect();
    codes.join(", ")
}

impl TryFrom<RawTouchpoints> for TouchpointSet {
    type Error = String;

    fn try_from(raw: RawTouchpoints) -> Result<Self, Self::Error> {
        match raw {
            RawTouchpoints::Word(word) if word == ANY => Ok(TouchpointSet::Any),
            RawTouchpoints::Word(word) => Err(format!(
                "touchpoints is \"ANY\" or a list of {}, not \"{word}\"",
                touchpoint_codes()
            )),
            RawTouchpoints::List(list) => list
                .iter()
                .map(|code| {
                    Touchpoint::from_code(code).ok_or_else(|| {
                        format!(
                            "unknown touchpoint \"{code}\" (expected {})",
                            touchpoint_codes()
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(TouchpointSet::Only),
        }
    }
}

impl From<TouchpointSet> for RawTouchpoints {
    fn from(set: TouchpointSet) -> Self {
        match set {
            TouchpointSet::Any => RawTouchpoints::Word(ANY.to_owned()),
            TouchpointSet::Only(list) => {
                RawTouchpoints::List(list.iter().map(|t| t.code().to_owned()).collect())
            }
        }
    }
}

/// What the conditions of one request are evaluated against.
pub(super) struct Facts<'a> {
    pub classification: &'a Classification,
    pub birthday: Option<Birthday>,
    pub birthday_days_ahead: i64,
}

impl<'a> Facts<'a> {
    /// The primary segment code of a dimension (pins included, secondary traits not).
    pub fn code(&self, dimension: Dimension) -> Option<&'a str> {
        // Looked up rather than indexed so a partial classification cannot panic.
        self.classification
            .assignments
            .iter()
            .find(|a| a.dimension == dimension)
            .map(|a| a.code.as_ref())
    }

    fn birthday_soon(&self) -> bool {
        self.birthday
            .and_then(|b| days_until_birthday(b, self.classification.as_of))
            .is_some_and(|days| days <= self.birthday_days_ahead)
    }
}

impl Condition {
    pub(super) fn holds(&self, facts: &Facts<'_>) -> bool {
        match self {
            Condition::Segment {
                dimension,
                segments,
            } => facts
                .code(*dimension)
                .is_some_and(|code| segments.iter().any(|s| s == code)),
            Condition::Special(SpecialCondition::BirthdayWithinDays) => facts.birthday_soon(),
        }
    }

    /// The trigger this (holding) condition reports: the customer's segment, or the rule name.
    pub(super) fn trigger(&self, facts: &Facts<'_>) -> Trigger {
        match self {
            Condition::Segment { dimension, .. } => Trigger {
                dimension: Some(*dimension),
                code: facts.code(*dimension).unwrap_or_default().to_owned(),
            },
            Condition::Special(special) => Trigger {
                dimension: None,
                code: special.trigger_code().to_owned(),
            },
        }
    }
}

const MAX_DAY_OF_MONTH: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// Days from `as_of`'s UTC date to the next occurrence of the birthday (0 = today). 29 February
/// is kept on 28 February in years without it. `None` for an impossible date.
pub(super) fn days_until_birthday(birthday: Birthday, as_of: Timestamp) -> Option<i64> {
    let Birthday { month, day } = birthday;
    let max_day = *MAX_DAY_OF_MONTH.get(usize::try_from(month).ok()?.checked_sub(1)?)?;
    if day == 0 || day > max_day {
        return None;
    }
    let (year, today_month, today_day) = as_of.civil_date();
    let today = days_from_civil(year, today_month, today_day);
    // This year's occurrence if it is still ahead, else next year's (at most 366 days away).
    [year, year + 1].into_iter().find_map(|y| {
        let day = if month == 2 && day == 29 && !is_leap_year(y) {
            28
        } else {
            day
        };
        let ahead = days_from_civil(y, month, day) - today;
        (ahead >= 0).then_some(ahead)
    })
}
