//! Input rules shared by the gRPC API and the importer: what makes a profile or an event
//! acceptable, and the normal forms of aliases. Every offending field is reported, not just the
//! first, so a writer can fix a record in one go.

use serde::{Deserialize, Serialize};

use super::history::{CustomerProfile, Event, EventPayload};
use super::time::Timestamp;

/// How far in the future of the server clock an instant may lie (clock skew between writers).
pub const MAX_FUTURE_SKEW_SECONDS: i64 = 300;
pub const MAX_ID_CHARS: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldViolation {
    /// Path of the field, e.g. `events[3].order.amount`.
    pub field: String,
    pub description: String,
}

/// Collects violations under a field-path prefix.
#[derive(Debug, Default)]
pub struct Violations {
    pub list: Vec<FieldViolation>,
}

impl Violations {
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.list.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// `Ok(())` when nothing was reported.
    pub fn into_result(self) -> Result<(), Vec<FieldViolation>> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(self.list)
        }
    }
}

/// Joins a prefix and a field name into a path (`events[2]` + `order_id`).
pub fn path(prefix: &str, field: &str) -> String {
    FieldPath::new(prefix, field).into()
}

/// A prefix and a field name that become a path only when a violation names them: a valid
/// request, the common case on the per-call paths, then formats no text.
#[derive(Debug, Clone, Copy)]
pub struct FieldPath<'a> {
    prefix: &'a str,
    field: &'a str,
}

impl<'a> FieldPath<'a> {
    pub fn new(prefix: &'a str, field: &'a str) -> Self {
        Self { prefix, field }
    }
}

impl From<FieldPath<'_>> for String {
    fn from(path: FieldPath<'_>) -> Self {
        if path.prefix.is_empty() {
            path.field.to_owned()
        } else {
            format!("{}.{}", path.prefix, path.field)
        }
    }
}

/// An identifier: 1..128 characters, none of them a control character.
pub fn check_id(field: impl Into<String> + Copy, value: &str, violations: &mut Violations) {
    let chars = value.chars().count();
    if chars == 0 {
        violations.add(field, "must not be empty");
    } else if chars > MAX_ID_CHARS {
        violations.add(
            field,
            format!("must be at most {MAX_ID_CHARS} characters, got {chars}"),
        );
    } else if value.chars().any(char::is_control) {
        violations.add(field, "must contain printable characters only");
    }
}

/// E.164: `+`, a country code not starting with 0, 8 to 15 digits in all. Spaces, dashes, dots
/// and parentheses are dropped; a leading `00` is read as `+`.
pub fn normalize_phone(raw: &str) -> Result<String, String> {
    let compact: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
        .collect();
    let digits = if let Some(rest) = compact.strip_prefix('+') {
        rest
    } else if let Some(rest) = compact.strip_prefix("00") {
        rest
    } else {
        return Err(format!(
            "phone {raw:?} must be in international format, e.g. +8613800000000"
        ));
    };
    let valid = digits.chars().all(|c| c.is_ascii_digit())
        && (8..=15).contains(&digits.len())
        && !digits.starts_with('0');
    if valid {
        Ok(format!("+{digits}"))
    } else {
        Err(format!(
            "phone {raw:?} is not an E.164 number (+, then 8 to 15 digits)"
        ))
    }
}

/// Trimmed and lower-cased; one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
                && email.len() <= 254
        }
        None => false,
    };
    if valid {
        Ok(email)
    } else {
        Err(format!("e-mail {raw:?} is not a valid address"))
    }
}

fn days_in_month(month: u32) -> u32 {
    match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Checks a profile and normalises its aliases in place (duplicates within the profile dropped).
pub fn normalize_profile(profile: &mut CustomerProfile, prefix: &str, violations: &mut Violations) {
    check_id(&path(prefix, "id"), &profile.id, violations);
    if let Some(birthday) = profile.birthday {
        if !(1..=12).contains(&birthday.month) {
            violations.add(path(prefix, "birthday.month"), "must be 1..12");
        } else if birthday.day == 0 || birthday.day > days_in_month(birthday.month) {
            violations.add(path(prefix, "birthday.day"), "is not a day of that month");
        }
    }

    let mut phones = Vec::new();
    for (i, raw) in profile.phones.iter().enumerate() {
        match normalize_phone(raw) {
            Ok(phone) if !phones.contains(&phone) => phones.push(phone),
            Ok(_) => {}
            Err(why) => violations.add(path(prefix, &format!("phones[{i}]")), why),
        }
    }
    profile.phones = phones;

    let mut emails = Vec::new();
    for (i, raw) in profile.emails.iter().enumerate() {
        match normalize_email(raw) {
            Ok(email) if !emails.contains(&email) => emails.push(email),
            Ok(_) => {}
            Err(why) => violations.add(path(prefix, &format!("emails[{i}]")), why),
        }
    }
    profile.emails = emails;

    for (i, external) in profile.external_ids.iter_mut().enumerate() {
        external.system = external.system.trim().to_owned();
        external.key = external.key.trim().to_owned();
        check_id(
            &path(prefix, &format!("external_ids[{i}].system")),
            &external.system,
            violations,
        );
        check_id(
            &path(prefix, &format!("external_ids[{i}].key")),
            &external.key,
            violations,
        );
    }
    profile.external_ids.sort();
    profile.external_ids.dedup();

    for (dimension, code) in &profile.pins {
        if !dimension.has_segment(code) {
            violations.add(
                path(prefix, &format!("pins.{}", dimension.code())),
                format!(
                    "{code:?} is not a segment of {}; expected one of {:?}",
                    dimension.code(),
                    dimension.segment_codes()
                ),
            );
        }
    }
}

/// Checks one event against everything that does not need stored state.
pub fn check_event(event: &Event, prefix: &str, now: Timestamp, violations: &mut Violations) {
    check_id(&path(prefix, "event_id"), &event.event_id, violations);
    check_id(&path(prefix, "customer"), &event.customer_id, violations);
    if event.at > now.plus_seconds(MAX_FUTURE_SKEW_SECONDS) {
        violations.add(
            path(prefix, "occurred_at"),
            format!(
                "{} is more than {MAX_FUTURE_SKEW_SECONDS} s in the future of the server clock",
                event.at.to_rfc3339()
            ),
        );
    }
    let field = |name: &str| path(prefix, name);
    match &event.payload {
        EventPayload::Order(order) => {
            check_id(&field("order.order_id"), &order.order_id, violations);
            if order.amount < 0 {
                violations.add(field("order.amount"), "must be >= 0");
            }
            if order.cost.is_some_and(|c| c < 0) {
                violations.add(field("order.cost"), "must be >= 0");
            }
            if order.discount_amount < 0 {
                violations.add(field("order.discount_amount"), "must be >= 0");
            }
            if order.units < 1 {
                violations.add(field("order.units"), "must be >= 1");
            }
            for (i, category) in order.categories.iter().enumerate() {
                if category.is_empty() {
                    violations.add(
                        field(&format!("order.categories[{i}]")),
                        "must not be empty",
                    );
                }
            }
        }
        EventPayload::Refund(refund) => {
            check_id(&field("refund.order_id"), &refund.order_id, violations);
            if refund.amount <= 0 {
                violations.add(field("refund.amount"), "must be > 0");
            }
        }
        EventPayload::SupportTicket(ticket) => {
            check_id(
                &field("support_ticket.ticket_id"),
                &ticket.ticket_id,
                violations,
            );
            if let Some(sentiment) = ticket.sentiment {
                if !(-1.0..=1.0).contains(&sentiment) {
                    violations.add(field("support_ticket.sentiment"), "must be within [-1, 1]");
                }
            }
        }
        EventPayload::Survey { kind, score } => {
            let (low, high) = kind.score_range();
            if !(low..=high).contains(score) {
                violations.add(
                    field("survey.score"),
                    format!("a {} score must be {low}..{high}", kind.code()),
                );
            }
        }
        EventPayload::Review { rating } => {
            if !(1..=5).contains(rating) {
                violations.add(field("review.rating"), "must be 1..5");
            }
        }
        EventPayload::Referral { referred_id } => {
            if let Some(id) = referred_id {
                check_id(&field("referral.referred_id"), id, violations);
            }
        }
        EventPayload::Interaction { .. } | EventPayload::PlanChange { .. } => {}
    }
}

/// The reporting currency check: empty means the reporting currency; anything else must equal it.
pub fn check_currency(given: &str, reporting: &str, field: &str, violations: &mut Violations) {
    if !given.is_empty() && !given.trim().eq_ignore_ascii_case(reporting) {
        violations.add(
            field,
            format!("currency {given:?} is not the reporting currency {reporting}; convert before sending"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise_to_e164() {
        assert_eq!(
            normalize_phone("+86 138-0000-0000").unwrap(),
            "+8613800000000"
        );
        assert_eq!(
            normalize_phone("0086 13800000000").unwrap(),
            "+8613800000000"
        );
        assert!(normalize_phone("13800000000").is_err());
        assert!(normalize_phone("+0123456789").is_err());
        assert!(normalize_phone("+12ab4567890").is_err());
        assert!(normalize_phone("+1234567").is_err());
        assert!(normalize_phone("+1234567890123456").is_err());
    }

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            normalize_email("  Li.Wei@Example.COM ").unwrap(),
            "li.wei@example.com"
        );
        for bad in [
            "",
            "no-at.example.com",
            "@example.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_bounded_and_printable() {
        let mut v = Violations::default();
        check_id("id", "c-1", &mut v);
        assert!(v.is_empty());
        check_id("id", "", &mut v);
        check_id("id", &"x".repeat(129), &mut v);
        check_id("id", "a\nb", &mut v);
        assert_eq!(v.list.len(), 3);
    }
}
