//! probe: answers with the first candidate and, as its reason, what the Rust SDK read of
//! request.team, request.budget and request.limits. Not a rule to ship:
//! host/rules/abi's TestSDKsReadKeyState builds it and holds its reason to the input.
#[macro_use]
#[path = "../switchyard_rule.rs"]
mod switchyard_rule;

use std::fmt::Write;
use switchyard_rule::{Decision, Input, Limits};

fn milli(v: f64) -> i64 {
    (v * 1000.0 + 0.5) as i64
}

fn route(input: &Input, d: &mut Decision) {
    let r = &input.request;
    let first = match input.candidates.first() {
        Some(c) => c,
        None => return,
    };
    d.target(first);
    let mut s = String::new();
    let _ = write!(s, "team={}", String::from_utf8_lossy(r.team.raw()));
    match r.budget {
        Some(b) => {
            let _ = write!(s, " budget={},{},{},{},{}", milli(b.usd), String::from_utf8_lossy(b.period.raw()),
                milli(b.spent_usd), milli(b.remaining_usd), b.resets_unix_ms);
        }
        None => s.push_str(" budget=none"),
    }
    match r.limits {
        Some(l) => {
            let _ = write!(s, " limits={},{},{},{}", l.rpm, l.rpm_remaining, l.tpm, l.tpm_remaining);
        }
        None => s.push_str(" limits=none"),
    }
    let budget = r.budget.map_or(0.0, |b| b.remaining_fraction());
    let limits = r.limits.unwrap_or(Limits::default());
    let _ = write!(s, " fractions={},{},{}", milli(budget), milli(limits.rpm_fraction()), milli(limits.tpm_fraction()));
    d.reason(&s);
}

switchyard_rule!(route: route);
