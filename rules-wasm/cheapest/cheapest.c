// cheapest: a Switchyard rule in C on sdk/rule/c (no libc). Build:
//   clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry \
//     -o bin/rules/cheapest.wasm rules-wasm/cheapest/cheapest.c
// Routes routine requests to the cheapest candidates that can serve them. See README.md.

#define SWITCHYARD_RULE_IMPLEMENTATION
#include "../../sdk/rule/c/switchyard_rule.h"

enum { MAX_CANDS = 64 };

static syr_i64 max_targets = 2;
static double max_out_price = 0;   // 0: no cap
static syr_i64 max_priority = 10;  // requests above this priority: no opinion
static syr_i64 default_output = 1024;

// init reads {"max_targets": 1..64, "max_usd_per_mtok_out": >= 0, "max_priority",
// "default_output_tokens": >= 0}; all optional, anything else refuses the load.
static int init(syr_raw config) {
	syr_iter it = syr_iter_of(config);
	syr_str key;
	syr_raw v;
	if (syr_kind(config) != SYR_OBJECT) return 1;
	while (syr_next(&it, &key, &v)) {
		if (syr_kind(v) != SYR_NUMBER) return 2;
		if (syr_eq_lit(key, "max_targets")) max_targets = syr_int(v, 0);
		else if (syr_eq_lit(key, "max_usd_per_mtok_out")) max_out_price = syr_num(v, -1);
		else if (syr_eq_lit(key, "max_priority")) max_priority = syr_int(v, 10);
		else if (syr_eq_lit(key, "default_output_tokens")) default_output = syr_int(v, -1);
		else return 2; // unknown key
	}
	if (it.err || max_targets < 1 || max_targets > MAX_CANDS || max_out_price < 0 || default_output < 0) return 3;
	return 0;
}

// cost is the blended price per million tokens: output weighs as three inputs.
static double cost(const syr_candidate *c) { return 3 * c->usd_per_mtok_in + c->usd_per_mtok_out; }

static void route(const syr_input *in, syr_decision *d) {
	const syr_request *r = &in->request;
	if (r->priority > max_priority) return; // no opinion
	syr_i64 need = r->prompt_tokens_estimate + (r->max_tokens > 0 ? r->max_tokens : default_output);
	const syr_candidate *order[MAX_CANDS];
	int n = 0;
	for (syr_u32 i = 0; i < in->ncandidates && n < MAX_CANDS; i++) {
		const syr_candidate *c = &in->candidates[i];
		if (!c->healthy || syr_eq_lit(c->circuit, "open")) continue;
		if (c->context_window > 0 && c->context_window < need) continue; // 0: unknown, kept
		if (max_out_price > 0 && c->usd_per_mtok_out > max_out_price) continue;
		int j = n++; // insertion sort by cost, stable
		while (j > 0 && cost(order[j - 1]) > cost(c)) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = c;
	}
	if (n == 0) return; // no opinion
	for (int i = 0; i < n && i < max_targets; i++) syr_target(d, order[i]);
	syr_buf b = syr_buf_new(96);
	syr_buf_str(&b, "cheapest of ");
	syr_buf_int(&b, n);
	syr_buf_str(&b, " candidates that fit ");
	syr_buf_int(&b, need);
	syr_buf_str(&b, " tokens");
	syr_reason_str(d, syr_buf_done(&b));
	syr_tag(d, "cheapest");
}

SWITCHYARD_INIT(init)
SWITCHYARD_ROUTE(route)
