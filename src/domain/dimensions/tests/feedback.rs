use crate::domain::dimensions::Dimension::*;
use crate::domain::history::{SurveyKind, TicketKind};
use crate::domain::testkit::*;

fn with_csat(scores: &[u32]) -> HistoryBuilder {
    scores.iter().fold(HistoryBuilder::new("c"), |b, &s| {
        b.survey(10, SurveyKind::Csat, s)
    })
}

#[test]
fn csat_average_boundaries_are_exact() {
    // 99 answers of 3 and one of 2: 2.99 is LOW; all 3s: exactly 3.0 is MEDIUM.
    let mut scores = vec![3; 99];
    scores.push(2);
    assert_eq!(
        code(&classify_alone(with_csat(&scores)), Satisfaction),
        "LOW"
    );
    assert_eq!(
        code(&classify_alone(with_csat(&[3; 100])), Satisfaction),
        "MEDIUM"
    );
    assert_eq!(
        code(&classify_alone(with_csat(&[4, 4, 4])), Satisfaction),
        "HIGH"
    );
    // 3.99...: 99 fours and one 3.
    let mut scores = vec![4; 99];
    scores.push(3);
    assert_eq!(
        code(&classify_alone(with_csat(&scores)), Satisfaction),
        "MEDIUM"
    );
}

#[test]
fn a_recent_complaint_lowers_satisfaction_one_level() {
    let complaint = |b: HistoryBuilder, days| b.ticket(days, "t", TicketKind::Claim, true, None);
    assert_eq!(
        code(
            &classify_alone(complaint(with_csat(&[5]), 89)),
            Satisfaction
        ),
        "MEDIUM"
    );
    assert_eq!(
        code(
            &classify_alone(complaint(with_csat(&[3]), 89)),
            Satisfaction
        ),
        "LOW"
    );
    assert_eq!(
        code(
            &classify_alone(complaint(with_csat(&[1]), 89)),
            Satisfaction
        ),
        "LOW"
    );
    // Opened exactly 90 days ago: outside the window.
    assert_eq!(
        code(
            &classify_alone(complaint(with_csat(&[5]), 90)),
            Satisfaction
        ),
        "HIGH"
    );
    // A question is no complaint.
    let question = with_csat(&[5]).ticket(1, "q", TicketKind::Question, false, None);
    assert_eq!(code(&classify_alone(question), Satisfaction), "HIGH");
}

#[test]
fn without_csat_satisfaction_is_unknown_or_low() {
    let nps_only = HistoryBuilder::new("c")
        .survey(5, SurveyKind::Nps, 2)
        .survey(5, SurveyKind::Ces, 1);
    assert_eq!(code(&classify_alone(nps_only), Satisfaction), "UNKNOWN");
    let complained = HistoryBuilder::new("c").ticket(5, "t", TicketKind::Complaint, false, None);
    assert_eq!(code(&classify_alone(complained), Satisfaction), "LOW");
    // A CSAT answer older than 365 days does not count.
    let old = HistoryBuilder::new("c").survey(365, SurveyKind::Csat, 5);
    assert_eq!(code(&classify_alone(old), Satisfaction), "UNKNOWN");
    let recent = HistoryBuilder::new("c").survey(364, SurveyKind::Csat, 5);
    assert_eq!(code(&classify_alone(recent), Satisfaction), "HIGH");
}

fn nps(score: u32) -> HistoryBuilder {
    HistoryBuilder::new("c").survey(10, SurveyKind::Nps, score)
}

#[test]
fn nps_boundaries() {
    for (score, expected) in [
        (0, "DETRACTOR"),
        (6, "DETRACTOR"),
        (7, "PASSIVE"),
        (8, "PASSIVE"),
        (9, "PROMOTER"),
        (10, "PROMOTER"),
    ] {
        assert_eq!(
            code(&classify_alone(nps(score)), Advocacy),
            expected,
            "nps {score}"
        );
    }
}

#[test]
fn referrals_lift_passives_and_stand_in_for_missing_nps() {
    assert_eq!(
        code(&classify_alone(nps(8).referral(3)), Advocacy),
        "PROMOTER"
    );
    assert_eq!(
        code(&classify_alone(nps(6).referral(3)), Advocacy),
        "DETRACTOR"
    );
    assert_eq!(
        code(
            &classify_alone(HistoryBuilder::new("c").referral(3)),
            Advocacy
        ),
        "PROMOTER"
    );
    assert_eq!(
        code(
            &classify_alone(HistoryBuilder::new("c").referral(365)),
            Advocacy
        ),
        "UNKNOWN"
    );
    assert_eq!(
        code(&classify_alone(HistoryBuilder::new("c")), Advocacy),
        "UNKNOWN"
    );
}

#[test]
fn the_latest_nps_decides_and_equal_instants_go_by_event_id() {
    let b = HistoryBuilder::new("c")
        .survey(30, SurveyKind::Nps, 10)
        .survey(10, SurveyKind::Nps, 3);
    assert_eq!(code(&classify_alone(b), Advocacy), "DETRACTOR");
    // Same instant: the greater event id ("c-e0002") is later.
    let b = HistoryBuilder::new("c")
        .survey(10, SurveyKind::Nps, 3)
        .survey(10, SurveyKind::Nps, 10);
    assert_eq!(code(&classify_alone(b), Advocacy), "PROMOTER");
    // An NPS answer older than 365 days is ignored.
    let b = HistoryBuilder::new("c").survey(400, SurveyKind::Nps, 0);
    assert_eq!(code(&classify_alone(b), Advocacy), "UNKNOWN");
}
