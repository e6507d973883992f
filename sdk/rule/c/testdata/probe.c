// probe: answers with the first candidate and, as its reason, what the C SDK read of
// request.team, request.budget and request.limits. Not a rule to ship:
// host/rules/abi's TestSDKsReadKeyState builds it and holds its reason to the input.
#define SWITCHYARD_RULE_IMPLEMENTATION
#include "../switchyard_rule.h"

static void put_str(syr_buf *b, syr_str s) {
	for (syr_u32 i = 0; i < s.n && b->n < b->cap; i++) b->p[b->n++] = s.p[i];
}

static void put_milli(syr_buf *b, double v) { syr_buf_int(b, (syr_i64)(v * 1000 + 0.5)); }

static void route(const syr_input *in, syr_decision *d) {
	const syr_request *r = &in->request;
	if (!in->ncandidates) return;
	syr_target(d, &in->candidates[0]);
	syr_buf b = syr_buf_new(512);
	syr_buf_str(&b, "team=");
	put_str(&b, r->team);
	if (r->budget.present) {
		syr_buf_str(&b, " budget=");
		put_milli(&b, r->budget.usd);
		syr_buf_str(&b, ",");
		put_str(&b, r->budget.period);
		syr_buf_str(&b, ",");
		put_milli(&b, r->budget.spent_usd);
		syr_buf_str(&b, ",");
		put_milli(&b, r->budget.remaining_usd);
		syr_buf_str(&b, ",");
		syr_buf_int(&b, r->budget.resets_unix_ms);
	} else {
		syr_buf_str(&b, " budget=none");
	}
	if (r->limits.present) {
		syr_buf_str(&b, " limits=");
		syr_buf_int(&b, r->limits.rpm);
		syr_buf_str(&b, ",");
		syr_buf_int(&b, r->limits.rpm_remaining);
		syr_buf_str(&b, ",");
		syr_buf_int(&b, r->limits.tpm);
		syr_buf_str(&b, ",");
		syr_buf_int(&b, r->limits.tpm_remaining);
	} else {
		syr_buf_str(&b, " limits=none");
	}
	syr_buf_str(&b, " fractions=");
	put_milli(&b, syr_budget_fraction(&r->budget));
	syr_buf_str(&b, ",");
	put_milli(&b, syr_rpm_fraction(&r->limits));
	syr_buf_str(&b, ",");
	put_milli(&b, syr_tpm_fraction(&r->limits));
	syr_reason_str(d, syr_buf_done(&b));
}

SWITCHYARD_ROUTE(route)
