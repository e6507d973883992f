// example-c: the "fit-by-priority" example rule in C, on sdk/rule/c (no libc).
// Build:
//   clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry \
//     -o bin/rules/example-c.wasm rules-wasm/example-c/example-c.c
// The same rule exists in Go, Rust, AssemblyScript and WAT; see README.md.

#define SWITCHYARD_RULE_IMPLEMENTATION
#include "../../sdk/rule/c/switchyard_rule.h"

enum { MAX_TARGETS = 3 };

static syr_i64 high_priority = 8;           // priority >= this: largest context first
static syr_i64 default_output_tokens = 256; // assumed when the request sets no max_tokens

// init reads {"high_priority": 1..11, "default_output_tokens": >= 0}; both
// optional, anything else refuses the load.
static int init(syr_raw config) {
	syr_iter it = syr_iter_of(config);
	syr_str key;
	syr_raw v;
	if (syr_kind(config) != SYR_OBJECT) return 1;
	while (syr_next(&it, &key, &v)) {
		if (syr_kind(v) != SYR_NUMBER) return 2;
		if (syr_eq_lit(key, "high_priority")) high_priority = syr_int(v, 0);
		else if (syr_eq_lit(key, "default_output_tokens")) default_output_tokens = syr_int(v, -1);
		else {
			syr_log(SYR_ERROR, "example-c: unknown config key");
			return 3;
		}
	}
	if (it.err || high_priority < 1 || high_priority > 11 || default_output_tokens < 0) return 4;
	return 0;
}

// better reports whether a goes before b; equal candidates keep input order.
static int better(const syr_candidate *a, const syr_candidate *b, int high) {
	return high ? a->context_window > b->context_window : a->usd_per_mtok_in < b->usd_per_mtok_in;
}

static void route(const syr_input *in, syr_decision *d) {
	const syr_request *r = &in->request;
	syr_i64 need = r->prompt_tokens_estimate + (r->max_tokens > 0 ? r->max_tokens : default_output_tokens);
	int high = r->priority >= high_priority;
	const syr_candidate *top[MAX_TARGETS];
	int n = 0;

	for (syr_u32 i = 0; i < in->ncandidates; i++) {
		const syr_candidate *c = &in->candidates[i];
		if (!c->healthy || syr_eq_lit(c->circuit, "open") || c->context_window < need) continue;
		// insert into the best MAX_TARGETS so far, after equal ones
		int j = n;
		while (j > 0 && better(c, top[j - 1], high)) {
			if (j < MAX_TARGETS) top[j] = top[j - 1];
			j--;
		}
		if (j < MAX_TARGETS) top[j] = c;
		if (n < MAX_TARGETS) n++;
	}
	if (n == 0) return; // no opinion

	for (int i = 0; i < n; i++) syr_target(d, top[i]);
	syr_reason(d, high ? "high priority: largest context first" : "cheapest that fits");
	syr_tag(d, high ? "largest-context" : "cheapest");
}

SWITCHYARD_INIT(init)
SWITCHYARD_ROUTE(route)
