//! example-rust: the "fit-by-priority" example rule in Rust, on
//! sdk/rule/rust (no crates, Rust 1.63). Build with Debian's rustc:
//!
//!   /usr/bin/rustc --target wasm32-unknown-unknown --crate-type cdylib --edition 2021 \
//!     -C opt-level=3 -C lto -C panic=abort -C strip=symbols -C link-arg=-zstack-size=65536 \
//!     -o bin/rules/example-rust.wasm rules-wasm/example-rust/example-rust.rs
//!
//! The same rule exists in Go, C, AssemblyScript and WAT; see README.md.
#![no_std]

#[macro_use]
#[path = "../../sdk/rule/rust/switchyard_rule.rs"]
mod switchyard_rule;

use switchyard_rule::{Candidate, Decision, Input, Kind, Value};

const MAX_TARGETS: usize = 3;

// Written once by init, before any route call; an instance is single-threaded.
static mut HIGH_PRIORITY: i64 = 8; // priority >= this: largest context first
static mut DEFAULT_OUTPUT_TOKENS: i64 = 256; // assumed when the request sets no max_tokens

/// init reads {"high_priority": 1..11, "default_output_tokens": >= 0}; both
/// optional, anything else refuses the load.
fn init(config: Value) -> Result<(), &'static str> {
    if config.kind() != Kind::Object {
        return Err("example-rust: config must be an object");
    }
    let (mut high, mut out) = (8, 256);
    for (k, v) in config.members() {
        if v.kind() != Kind::Number {
            return Err("example-rust: config values must be numbers");
        }
        if k.eq("high_priority") {
            high = v.int(0);
        } else if k.eq("default_output_tokens") {
            out = v.int(-1);
        } else {
            return Err("example-rust: unknown config key");
        }
    }
    if !(1..=11).contains(&high) || out < 0 {
        return Err("example-rust: need 1 <= high_priority <= 11 and default_output_tokens >= 0");
    }
    unsafe {
        HIGH_PRIORITY = high;
        DEFAULT_OUTPUT_TOKENS = out;
    }
    Ok(())
}

fn route(input: &Input, d: &mut Decision) {
    let (high_priority, default_output) = unsafe { (HIGH_PRIORITY, DEFAULT_OUTPUT_TOKENS) };
    let r = &input.request;
    let need = r.prompt_tokens_estimate + if r.max_tokens > 0 { r.max_tokens } else { default_output };
    let high = r.priority >= high_priority;
    // better: does a go before b? Equal candidates keep input order.
    let better = |a: &Candidate, b: &Candidate| {
        if high {
            a.context_window > b.context_window
        } else {
            a.usd_per_mtok_in < b.usd_per_mtok_in
        }
    };

    let mut top: [Option<&Candidate>; MAX_TARGETS] = [None; MAX_TARGETS];
    let mut n = 0;
    for c in input.candidates {
        if !c.healthy || c.circuit.eq("open") || c.context_window < need {
            continue;
        }
        // insert into the best MAX_TARGETS so far, after equal ones
        let mut j = n;
        while j > 0 && better(c, top[j - 1].unwrap()) {
            if j < MAX_TARGETS {
                top[j] = top[j - 1];
            }
            j -= 1;
        }
        if j < MAX_TARGETS {
            top[j] = Some(c);
        }
        if n < MAX_TARGETS {
            n += 1;
        }
    }
    if n == 0 {
        return; // no opinion
    }
    for c in top.iter().flatten() {
        d.target(c);
    }
    d.reason(if high { "high priority: largest context first" } else { "cheapest that fits" });
    d.tag(if high { "largest-context" } else { "cheapest" });
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

switchyard_rule!(route: route, init: init);
