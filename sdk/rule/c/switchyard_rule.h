/* switchyard_rule.h: write a Switchyard routing rule (Rule ABI v1) in C.
 *
 * Header-only and freestanding (no libc). In exactly one file of the rule:
 *
 *     #define SWITCHYARD_RULE_IMPLEMENTATION
 *     #include "switchyard_rule.h"
 *
 *     static void route(const syr_input *in, syr_decision *d) { ... }
 *     SWITCHYARD_ROUTE(route)
 *     SWITCHYARD_INIT(init)          // optional: int init(syr_raw config), 0 = accept
 *     SWITCHYARD_VALIDATE(validate)  // optional: void validate(const syr_validation *, syr_verdict *)
 *
 * and build with
 *
 *     clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -o rule.wasm rule.c
 *
 * See README.md beside this file for the API, the memory layout and the limits.
 */
#ifndef SWITCHYARD_RULE_H
#define SWITCHYARD_RULE_H

#if !defined(__wasm32__)
#error "switchyard_rule.h targets wasm32: clang --target=wasm32 -nostdlib"
#endif

typedef unsigned char syr_u8;
typedef unsigned short syr_u16;
typedef unsigned int syr_u32;
typedef int syr_i32;
typedef long long syr_i64;
typedef unsigned long long syr_u64;

/* A JSON string's contents as they appear in the input: still escaped, so
 * it can be copied into JSON output as it is. p points into the input. */
typedef struct {
	const char *p;
	syr_u32 n;
} syr_str;

/* The text of one JSON value (object, array, string with its quotes,
 * number, true, false, null); n == 0 when the field was absent. */
typedef struct {
	const char *p;
	syr_u32 n;
} syr_raw;

/* request.budget: the calling key's spend budget in the current period, before this
 * request is counted (see ABI.md). present is 0 (and the rest zero) when the key has none. */
typedef struct {
	int present;
	double usd;             /* the budget per period, USD */
	syr_str period;         /* "day", "week", "month" (UTC calendar periods) or "total" */
	double spent_usd;       /* spent in the current period */
	double remaining_usd;   /* usd - spent_usd, 0 once the spend has reached the budget */
	syr_i64 resets_unix_ms; /* when the period ends and the spend starts again at 0; 0 for "total" */
} syr_budget;

/* request.limits: the calling key's rate limits per minute for the requested model (the
 * tightest of its own and its per-model ones) and what is left of each in the current
 * minute, before this request is counted. A limit of 0 is none: its remaining is then 0
 * and means nothing. present is 0 (and the rest zero) when the key has none. */
typedef struct {
	int present;
	syr_i64 rpm, rpm_remaining; /* requests per minute */
	syr_i64 tpm, tpm_remaining; /* tokens per minute */
} syr_limits;

typedef struct {
	/* endpoint: "chat.completions", "responses", "messages", "embeddings" or "completions" */
	syr_str id, endpoint, model;
	int stream;
	syr_i64 priority; /* 1..10, 10 is the most important; 5 when absent */
	syr_i64 prompt_tokens_estimate;
	syr_i64 max_tokens; /* 0 when the client set none */
	syr_i64 messages, chars;
	int has_tools, has_images, json_mode;
	syr_str key;  /* the client key's configured name, never the secret */
	syr_str team; /* the key's team (its team: in the router config); n == 0 when none */
	syr_str user;
	syr_budget budget; /* budget.present: the key has a budget */
	syr_limits limits; /* limits.present: the key has rate limits */
	syr_raw tags;     /* array of strings: syr_has(tags, "batch") */
	syr_raw metadata; /* object: syr_get(metadata, "tier") */
	syr_raw headers;  /* object of the headers the rule's config asks for */
	/* request.content, only for a rule whose router config has content: {max_bytes: N}
	 * (n == 0 otherwise: check syr_kind(content) == SYR_OBJECT): an object with
	 * last_user and system (strings, cut to N bytes), has_code_fence, has_image,
	 * has_tool_results (booleans) and language_hint ("latin", ..., ""); see ABI.md.
	 * syr_get(content, "last_user") */
	syr_raw content;
} syr_request;

typedef struct {
	syr_str provider, model;
	syr_i64 context_window;
	double usd_per_mtok_in, usd_per_mtok_out;
	syr_raw capabilities; /* array of strings: syr_candidate_has(c, "tools") */
	int healthy;
	syr_str circuit; /* "closed", "half_open" or "open" */
	double p50_ms, p95_ms, error_rate;
	syr_i64 inflight;
	syr_u32 index; /* position in the input's candidates */
} syr_candidate;

typedef struct {
	syr_i64 abi, now_unix_ms; /* use now_unix_ms and random_seed: the sandbox clock is frozen */
	syr_u64 random_seed;
	syr_request request;
	const syr_candidate *candidates;
	syr_u32 ncandidates;
	syr_raw previous; /* "null" unless the chain runs again after a fallback verdict */
} syr_input;

/* The input of sy_validate. */
typedef struct {
	syr_request request;
	syr_str target_provider, target_model;
	syr_raw answer;  /* the whole answer object */
	syr_str content; /* answer.content */
	syr_str finish_reason;
	syr_raw tool_calls, usage;
} syr_validation;

enum { SYR_MAX_TARGETS = 64, SYR_MAX_TAGS = 16, SYR_MAX_STOP = 4, SYR_MAX_OUTPUT = 64 * 1024 };

typedef struct {
	syr_str provider, model;
	int escaped; /* 1: provider/model are raw JSON string contents (from the input) */
} syr__target;

/* What a route function fills in; empty means "no opinion". */
typedef struct {
	syr__target targets[SYR_MAX_TARGETS];
	syr_u32 ntargets, dropped_targets;
	syr_str reason;
	syr_str tags[SYR_MAX_TAGS];
	syr_u32 ntags;
	syr_i64 max_tokens;
	double temperature, top_p;
	int has_temperature, has_top_p;
	syr_str stop[SYR_MAX_STOP];
	syr_u32 nstop;
	int has_stop;
	syr_str reasoning_effort;
	int reject_status;
	syr_str reject_message;
	syr_str error;
} syr_decision;

typedef struct {
	const char *verdict; /* 0 (accept), "accept", "retry", "fallback" or "fail" */
	syr_str reason;
	syr_str error;
} syr_verdict;

/* ---- reading JSON values ---- */
enum { SYR_MISSING, SYR_NULL, SYR_BOOL, SYR_NUMBER, SYR_STRING, SYR_ARRAY, SYR_OBJECT };
int syr_kind(syr_raw v);
syr_raw syr_get(syr_raw object, const char *key);       /* member value, n == 0 when absent */
syr_i64 syr_int(syr_raw v, syr_i64 def);                /* numbers are truncated toward zero */
double syr_num(syr_raw v, double def);
int syr_bool(syr_raw v, int def);
syr_str syr_string(syr_raw v);                          /* contents of a JSON string, n == 0 otherwise */
int syr_eq(syr_str s, const char *text);                /* decoded s equals text */
int syr_has(syr_raw array, const char *text);           /* array holds the string text */
syr_u32 syr_unescape(syr_str s, char *dst, syr_u32 cap); /* decoded UTF-8 length (may exceed cap) */
syr_str syr_cstr(const char *text);                     /* wraps a NUL-terminated string */
int syr__eq_lit(syr_str s, const char *text, syr_u32 n);
#define syr_eq_lit(s, literal) syr__eq_lit((s), literal, sizeof(literal) - 1) /* syr_eq for a string literal, no strlen */
#define syr_candidate_has(c, capability) syr_has((c)->capabilities, (capability))
/* The share of the budget left, remaining_usd / usd within 0..1 (0 without a budget or
 * for a budget of 0); the share of a rate limit left, 1 when there is no such limit. */
double syr_budget_fraction(const syr_budget *b);
double syr_rpm_fraction(const syr_limits *l);
double syr_tpm_fraction(const syr_limits *l);

/* Iteration: syr_iter it = syr_iter_of(v); while (syr_next(&it, &key, &val)) ...
 * (key is set for object members, ignored for arrays; pass 0 if unneeded).
 * it.err is set when v is not an array or object or is malformed. */
typedef struct {
	const char *p, *end;
	int first, close, err;
} syr_iter;
syr_iter syr_iter_of(syr_raw v);
int syr_next(syr_iter *it, syr_str *key, syr_raw *val);

/* ---- per-call memory ---- */
/* syr_alloc returns n bytes (8-aligned) valid until the rule's export
 * returns; everything is freed at once when the next call starts. 0 when
 * memory is exhausted. */
void *syr_alloc(syr_u32 n);

/* A small string builder on the per-call arena, for reasons and tags:
 *   syr_buf b = syr_buf_new(64); syr_buf_str(&b, "fits "); syr_buf_int(&b, n);
 *   syr_reason_str(d, syr_buf_done(&b)); */
typedef struct {
	char *p;
	syr_u32 n, cap;
} syr_buf;
syr_buf syr_buf_new(syr_u32 cap);
void syr_buf_str(syr_buf *b, const char *s);
void syr_buf_int(syr_buf *b, syr_i64 v);
syr_str syr_buf_done(const syr_buf *b);

/* ---- the decision ---- */
/* Strings given to the builder must stay valid until the route function
 * returns (literals, static buffers, the input, syr_alloc memory). */
void syr_target(syr_decision *d, const syr_candidate *c);
void syr_target_names(syr_decision *d, const char *provider, const char *model);
void syr_reason(syr_decision *d, const char *reason);
void syr_reason_str(syr_decision *d, syr_str reason); /* plain (unescaped) text */
void syr_tag(syr_decision *d, const char *tag);
void syr_param_max_tokens(syr_decision *d, syr_i64 n); /* may only lower the request's */
void syr_param_temperature(syr_decision *d, double t);
void syr_param_top_p(syr_decision *d, double p);
void syr_param_stop(syr_decision *d, const char *stop); /* appends one stop sequence */
void syr_param_reasoning_effort(syr_decision *d, const char *effort);
void syr_reject(syr_decision *d, int status, const char *message); /* 400, 403, 429 or 503 */
void syr_fail(syr_decision *d, const char *message);               /* a rule error, counted by the host */

void syr_verdict_set(syr_verdict *v, const char *verdict, const char *reason);

/* ---- logging (switchyard.log; truncated to 1 KiB and rate limited by the host) ---- */
enum { SYR_DEBUG = 0, SYR_INFO = 1, SYR_WARN = 2, SYR_ERROR = 3 };
void syr_log(int level, const char *msg);
void syr_logn(int level, const char *msg, syr_u32 n);

/* ---- the exports ---- */
#define SYR__EXPORT(name) __attribute__((export_name(name)))
typedef void (*syr_route_fn)(const syr_input *, syr_decision *);
typedef int (*syr_init_fn)(syr_raw);
typedef void (*syr_validate_fn)(const syr_validation *, syr_verdict *);
syr_u64 syr__route(const char *p, syr_u32 n, syr_route_fn fn);
syr_i32 syr__init(const char *p, syr_u32 n, syr_init_fn fn);
syr_u64 syr__validate(const char *p, syr_u32 n, syr_validate_fn fn);

#define SWITCHYARD_ROUTE(fn) \
	SYR__EXPORT("sy_route") syr_u64 sy_route(const char *p, syr_u32 n) { return syr__route(p, n, fn); }
#define SWITCHYARD_INIT(fn) \
	SYR__EXPORT("sy_init") syr_i32 sy_init(const char *p, syr_u32 n) { return syr__init(p, n, fn); }
#define SWITCHYARD_VALIDATE(fn) \
	SYR__EXPORT("sy_validate") syr_u64 sy_validate(const char *p, syr_u32 n) { return syr__validate(p, n, fn); }

#endif /* SWITCHYARD_RULE_H */

/* ======================================================================== */
#ifdef SWITCHYARD_RULE_IMPLEMENTATION
#ifndef SWITCHYARD_RULE_IMPLEMENTED
#define SWITCHYARD_RULE_IMPLEMENTED

__attribute__((import_module("switchyard"), import_name("log"))) void syr__host_log(syr_i32 level, const char *p,
										 syr_u32 n);

extern unsigned char __heap_base;

/* clang emits calls to memcpy and memset for struct copies; without libc they
 * are defined here, as single bulk-memory instructions (no guest loop). */
__attribute__((target("bulk-memory"))) void *memcpy(void *dst, const void *src, __SIZE_TYPE__ n) {
	__builtin_memcpy(dst, src, n);
	return dst;
}
__attribute__((target("bulk-memory"))) void *memmove(void *dst, const void *src, __SIZE_TYPE__ n) {
	__builtin_memmove(dst, src, n);
	return dst;
}
__attribute__((target("bulk-memory"))) void *memset(void *dst, int c, __SIZE_TYPE__ n) {
	__builtin_memset(dst, c, n);
	return dst;
}

/* Memory: [data, stack][input buffer at __heap_base, in_cap bytes][per-call arena ...].
 * sy_alloc hands out the input buffer (moved never, grown in place); the arena
 * starts after it and is reset at every call. */
static syr_u32 syr__in_cap;
static syr_u32 syr__arena_top, syr__arena_base;

static int syr__reserve(syr_u32 end) {
	syr_u32 have = (syr_u32)__builtin_wasm_memory_size(0) * 65536u;
	if (end <= have) return 1;
	syr_u32 pages = (end - have + 65535u) / 65536u;
	return __builtin_wasm_memory_grow(0, pages) != (__SIZE_TYPE__)-1;
}

static syr_u32 syr__heap(void) { return ((syr_u32)(__SIZE_TYPE__)&__heap_base + 15u) & ~15u; }

SYR__EXPORT("sy_abi_v1") void sy_abi_v1(void) {}

SYR__EXPORT("sy_alloc") void *sy_alloc(syr_u32 size) {
	syr_u32 base = syr__heap();
	if (size > syr__in_cap) {
		syr_u32 cap = (size + 4095u) & ~4095u;
		if (cap < size || base + cap < base || !syr__reserve(base + cap)) return 0;
		syr__in_cap = cap;
	}
	syr__arena_base = base + syr__in_cap;
	return (void *)(__SIZE_TYPE__)base;
}

static void syr__reset(void) {
	if (!syr__arena_base) syr__arena_base = syr__heap() + syr__in_cap;
	syr__arena_top = syr__arena_base;
}

void *syr_alloc(syr_u32 n) {
	if (!syr__arena_top) syr__reset();
	syr_u32 p = (syr__arena_top + 7u) & ~7u, end = p + n;
	if (end < p || !syr__reserve(end)) return 0;
	syr__arena_top = end;
	return (void *)(__SIZE_TYPE__)p;
}

/* ---- small loop-free helpers: with the router's deadline on, every loop
 * iteration in the guest costs a call back into the host ---- */
static inline syr_u64 syr__ld8(const void *p) {
	syr_u64 v;
	__builtin_memcpy(&v, p, 8);
	return v;
}
static inline syr_u32 syr__ld4(const void *p) {
	syr_u32 v;
	__builtin_memcpy(&v, p, 4);
	return v;
}
static inline syr_u16 syr__ld2(const void *p) {
	syr_u16 v;
	__builtin_memcpy(&v, p, 2);
	return v;
}

/* syr__same compares n bytes, with overlapping word loads up to 24 bytes. */
static int syr__same(const char *a, const char *b, syr_u32 n) {
	if (n >= 8) {
		if (n <= 16) return syr__ld8(a) == syr__ld8(b) && syr__ld8(a + n - 8) == syr__ld8(b + n - 8);
		if (n <= 24)
			return syr__ld8(a) == syr__ld8(b) && syr__ld8(a + 8) == syr__ld8(b + 8) &&
			       syr__ld8(a + n - 8) == syr__ld8(b + n - 8);
		for (syr_u32 i = 0; i + 8 <= n; i += 8)
			if (syr__ld8(a + i) != syr__ld8(b + i)) return 0;
		return syr__ld8(a + n - 8) == syr__ld8(b + n - 8);
	}
	if (n >= 4) return syr__ld4(a) == syr__ld4(b) && syr__ld4(a + n - 4) == syr__ld4(b + n - 4);
	if (n >= 2) return syr__ld2(a) == syr__ld2(b) && syr__ld2(a + n - 2) == syr__ld2(b + n - 2);
	return n == 0 || a[0] == b[0];
}

static syr_u32 syr__strlen(const char *s) {
	const char *p = s;
	while (*p) p++;
	return (syr_u32)(p - s);
}

syr_str syr_cstr(const char *text) {
	syr_str s = {text, text ? syr__strlen(text) : 0};
	return s;
}

/* ---- the JSON reader ---- */
#define SYR__ONES 0x0101010101010101ULL
#define SYR__HIGHS 0x8080808080808080ULL
enum { SYR__MAX_DEPTH = 64 };

typedef struct {
	const char *p, *end;
	int err;
} syr__cur;

static inline void syr__ws(syr__cur *c) {
	if (c->p >= c->end || (syr_u8)*c->p > ' ') return;
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\t' || *c->p == '\r')) c->p++;
}

static inline int syr__eat(syr__cur *c, char ch) {
	syr__ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return 1;
	}
	return 0;
}

static int syr__lit(syr__cur *c, const char *w, syr_u32 n) {
	if ((syr_u32)(c->end - c->p) < n || !syr__same(c->p, w, n)) return 0;
	c->p += n;
	return 1;
}

/* syr__string reads a string and returns its raw contents. */
static syr_str syr__string(syr__cur *c) {
	syr_str s = {0, 0};
	syr__ws(c);
	if (c->p >= c->end || *c->p != '"') {
		c->err = 1;
		return s;
	}
	const char *start = ++c->p;
	for (;;) {
		/* eight bytes at a time while none is a quote, a backslash or a control byte */
		while (c->end - c->p >= 8) {
			syr_u64 w = syr__ld8(c->p), q = w ^ (SYR__ONES * '"'), e = w ^ (SYR__ONES * '\\');
			if ((((q - SYR__ONES) & ~q) | ((e - SYR__ONES) & ~e) | ((w - SYR__ONES * 0x20) & ~w)) & SYR__HIGHS)
				break;
			c->p += 8;
		}
		while (c->p < c->end && *c->p != '"' && *c->p != '\\' && (syr_u8)*c->p >= 0x20) c->p++;
		if (c->p >= c->end || (syr_u8)*c->p < 0x20) {
			c->err = 1;
			return s;
		}
		if (*c->p == '"') break;
		c->p += 2; /* a backslash and the byte it escapes */
	}
	s.p = start;
	s.n = (syr_u32)(c->p - start);
	c->p++;
	return s;
}

static const double syr__pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
				    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* syr__number reads a JSON number as a double; *iv gets it as an integer
 * (truncated) when iv is not 0. null reads as 0. */
static double syr__number(syr__cur *c, syr_i64 *iv) {
	syr__ws(c);
	if (c->p < c->end && *c->p == 'n') {
		if (!syr__lit(c, "null", 4)) c->err = 1;
		if (iv) *iv = 0;
		return 0;
	}
	int neg = 0, digits = 0, frac = 0, exp = 0;
	syr_u64 m = 0;
	if (c->p < c->end && *c->p == '-') {
		neg = 1;
		c->p++;
	}
	while (c->p < c->end && (syr_u8)(*c->p - '0') <= 9) {
		if (m < 100000000000000000ULL) m = m * 10 + (syr_u64)(*c->p - '0');
		else exp++;
		c->p++;
		digits++;
	}
	if (!digits) {
		c->err = 1;
		return 0;
	}
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		while (c->p < c->end && (syr_u8)(*c->p - '0') <= 9) {
			if (m < 100000000000000000ULL) {
				m = m * 10 + (syr_u64)(*c->p - '0');
				frac++;
			}
			c->p++;
		}
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		int eneg = 0, e = 0;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-')) eneg = *c->p++ == '-';
		while (c->p < c->end && (syr_u8)(*c->p - '0') <= 9) {
			if (e < 10000) e = e * 10 + (*c->p - '0');
			c->p++;
		}
		exp += eneg ? -e : e;
	}
	exp -= frac;
	double v = (double)m;
	if (exp) {
		int a = exp < 0 ? -exp : exp;
		double scale = 1;
		while (a > 22) {
			scale *= 1e22;
			a -= 22;
		}
		scale *= syr__pow10[a];
		v = exp < 0 ? v / scale : v * scale;
	}
	if (iv) {
		if (!exp && m <= 0x7fffffffffffffffULL) *iv = neg ? -(syr_i64)m : (syr_i64)m;
		else if (v >= 9.2e18) *iv = neg ? (syr_i64)(-0x7fffffffffffffffLL - 1) : 0x7fffffffffffffffLL;
		else *iv = neg ? -(syr_i64)v : (syr_i64)v;
	}
	return neg ? -v : v;
}

static syr_i64 syr__int(syr__cur *c) {
	syr_i64 v = 0;
	syr__number(c, &v);
	return v;
}

static int syr__bool(syr__cur *c) {
	syr__ws(c);
	if (syr__lit(c, "true", 4)) return 1;
	if (syr__lit(c, "false", 5) || syr__lit(c, "null", 4)) return 0;
	c->err = 1;
	return 0;
}

/* syr__skip consumes any JSON value. */
static void syr__skip(syr__cur *c) {
	int depth = 0;
	do {
		syr__ws(c);
		if (c->p >= c->end) {
			c->err = 1;
			return;
		}
		switch (*c->p) {
		case '{':
		case '[':
			if (++depth > SYR__MAX_DEPTH) {
				c->err = 1;
				return;
			}
			c->p++;
			continue;
		case '}':
		case ']':
			depth--;
			c->p++;
			break;
		case ',':
		case ':':
			c->p++;
			continue;
		case '"':
			syr__string(c);
			break;
		case 't':
			if (!syr__lit(c, "true", 4)) c->err = 1;
			break;
		case 'f':
			if (!syr__lit(c, "false", 5)) c->err = 1;
			break;
		case 'n':
			if (!syr__lit(c, "null", 4)) c->err = 1;
			break;
		default:
			syr__number(c, 0);
		}
	} while (depth > 0 && !c->err);
	if (depth < 0) c->err = 1;
}

static syr_raw syr__raw(syr__cur *c) {
	syr__ws(c);
	syr_raw r = {c->p, 0};
	syr__skip(c);
	r.n = c->err ? 0 : (syr_u32)(c->p - r.p);
	return r;
}

static syr_str syr__str_or_null(syr__cur *c) {
	syr_str s = {0, 0};
	syr__ws(c);
	if (c->p < c->end && *c->p == 'n') {
		if (!syr__lit(c, "null", 4)) c->err = 1;
		return s;
	}
	return syr__string(c);
}

/* syr__member advances to the next member of an object whose '{' was read;
 * 0 at the end (or on error). */
static int syr__member(syr__cur *c, int *first, syr_str *key) {
	if (syr__eat(c, '}')) return 0;
	if (!*first && !syr__eat(c, ',')) {
		c->err = 1;
		return 0;
	}
	*first = 0;
	*key = syr__string(c);
	if (c->err || !syr__eat(c, ':')) {
		c->err = 1;
		return 0;
	}
	return 1;
}

static int syr__element(syr__cur *c, int *first) {
	if (syr__eat(c, ']')) return 0;
	if (!*first && !syr__eat(c, ',')) {
		c->err = 1;
		return 0;
	}
	*first = 0;
	return 1;
}

/* syr__open reads '{' (1), null (0, nothing to read) or fails. */
static int syr__open(syr__cur *c, char ch) {
	syr__ws(c);
	if (c->p < c->end && *c->p == 'n') {
		if (!syr__lit(c, "null", 4)) c->err = 1;
		return 0;
	}
	if (!syr__eat(c, ch)) c->err = 1;
	return !c->err;
}

#define SYR__IS(k, lit) ((k).n == sizeof(lit) - 1 && syr__same((k).p, lit, sizeof(lit) - 1))

static const syr_budget syr__zero_budget;
static const syr_limits syr__zero_limits;

/* syr__read_budget reads request.budget; null reads as absent, a repeated one replaces. */
static void syr__read_budget(syr__cur *c, syr_budget *b) {
	int first = 1;
	syr_str k;
	*b = syr__zero_budget;
	if (!syr__open(c, '{')) return;
	b->present = 1;
	while (syr__member(c, &first, &k)) {
		if (SYR__IS(k, "usd")) b->usd = syr__number(c, 0);
		else if (SYR__IS(k, "period")) b->period = syr__str_or_null(c);
		else if (SYR__IS(k, "spent_usd")) b->spent_usd = syr__number(c, 0);
		else if (SYR__IS(k, "remaining_usd")) b->remaining_usd = syr__number(c, 0);
		else if (SYR__IS(k, "resets_unix_ms")) b->resets_unix_ms = syr__int(c);
		else syr__skip(c);
	}
}

/* syr__read_limits reads request.limits; null reads as absent, a repeated one replaces. */
static void syr__read_limits(syr__cur *c, syr_limits *l) {
	int first = 1;
	syr_str k;
	*l = syr__zero_limits;
	if (!syr__open(c, '{')) return;
	l->present = 1;
	while (syr__member(c, &first, &k)) {
		if (SYR__IS(k, "rpm")) l->rpm = syr__int(c);
		else if (SYR__IS(k, "rpm_remaining")) l->rpm_remaining = syr__int(c);
		else if (SYR__IS(k, "tpm")) l->tpm = syr__int(c);
		else if (SYR__IS(k, "tpm_remaining")) l->tpm_remaining = syr__int(c);
		else syr__skip(c);
	}
}

static void syr__read_request(syr__cur *c, syr_request *r) {
	int first = 1;
	syr_str k;
	if (!syr__open(c, '{')) return;
	while (syr__member(c, &first, &k)) {
		switch (k.n) {
		case 2:
			if (SYR__IS(k, "id")) r->id = syr__str_or_null(c);
			else syr__skip(c);
			break;
		case 3:
			if (SYR__IS(k, "key")) r->key = syr__str_or_null(c);
			else syr__skip(c);
			break;
		case 4:
			if (SYR__IS(k, "user")) r->user = syr__str_or_null(c);
			else if (SYR__IS(k, "tags")) r->tags = syr__raw(c);
			else if (SYR__IS(k, "team")) r->team = syr__str_or_null(c);
			else syr__skip(c);
			break;
		case 5:
			if (SYR__IS(k, "model")) r->model = syr__str_or_null(c);
			else if (SYR__IS(k, "chars")) r->chars = syr__int(c);
			else syr__skip(c);
			break;
		case 6:
			if (SYR__IS(k, "stream")) r->stream = syr__bool(c);
			else if (SYR__IS(k, "budget")) syr__read_budget(c, &r->budget);
			else if (SYR__IS(k, "limits")) syr__read_limits(c, &r->limits);
			else syr__skip(c);
			break;
		case 7:
			if (SYR__IS(k, "headers")) r->headers = syr__raw(c);
			else if (SYR__IS(k, "content")) r->content = syr__raw(c);
			else syr__skip(c);
			break;
		case 8:
			if (SYR__IS(k, "endpoint")) r->endpoint = syr__str_or_null(c);
			else if (SYR__IS(k, "priority")) r->priority = syr__int(c);
			else if (SYR__IS(k, "messages")) r->messages = syr__int(c);
			else if (SYR__IS(k, "metadata")) r->metadata = syr__raw(c);
			else syr__skip(c);
			break;
		case 9:
			if (SYR__IS(k, "has_tools")) r->has_tools = syr__bool(c);
			else if (SYR__IS(k, "json_mode")) r->json_mode = syr__bool(c);
			else syr__skip(c);
			break;
		case 10:
			if (SYR__IS(k, "max_tokens")) r->max_tokens = syr__int(c);
			else if (SYR__IS(k, "has_images")) r->has_images = syr__bool(c);
			else syr__skip(c);
			break;
		case 22:
			if (SYR__IS(k, "prompt_tokens_estimate")) r->prompt_tokens_estimate = syr__int(c);
			else syr__skip(c);
			break;
		default:
			syr__skip(c);
		}
	}
}

static void syr__read_candidate(syr__cur *c, syr_candidate *x) {
	int first = 1;
	syr_str k;
	if (!syr__eat(c, '{')) {
		c->err = 1;
		return;
	}
	while (syr__member(c, &first, &k)) {
		switch (k.n) {
		case 5:
			if (SYR__IS(k, "model")) x->model = syr__str_or_null(c);
			else syr__skip(c);
			break;
		case 6:
			if (SYR__IS(k, "p50_ms")) x->p50_ms = syr__number(c, 0);
			else if (SYR__IS(k, "p95_ms")) x->p95_ms = syr__number(c, 0);
			else syr__skip(c);
			break;
		case 7:
			if (SYR__IS(k, "healthy")) x->healthy = syr__bool(c);
			else if (SYR__IS(k, "circuit")) x->circuit = syr__str_or_null(c);
			else syr__skip(c);
			break;
		case 8:
			if (SYR__IS(k, "provider")) x->provider = syr__str_or_null(c);
			else if (SYR__IS(k, "inflight")) x->inflight = syr__int(c);
			else syr__skip(c);
			break;
		case 10:
			if (SYR__IS(k, "error_rate")) x->error_rate = syr__number(c, 0);
			else syr__skip(c);
			break;
		case 12:
			if (SYR__IS(k, "capabilities")) x->capabilities = syr__raw(c);
			else syr__skip(c);
			break;
		case 14:
			if (SYR__IS(k, "context_window")) x->context_window = syr__int(c);
			else syr__skip(c);
			break;
		case 15:
			if (SYR__IS(k, "usd_per_mtok_in")) x->usd_per_mtok_in = syr__number(c, 0);
			else syr__skip(c);
			break;
		case 16:
			if (SYR__IS(k, "usd_per_mtok_out")) x->usd_per_mtok_out = syr__number(c, 0);
			else syr__skip(c);
			break;
		default:
			syr__skip(c);
		}
	}
}

static const syr_candidate syr__zero_candidate;
static const syr_request syr__zero_request;

static void syr__read_candidates(syr__cur *c, syr_input *in) {
	int first = 1;
	if (!syr__open(c, '[')) return;
	syr_candidate *base = 0;
	syr_u32 n = 0;
	while (syr__element(c, &first)) {
		/* candidates are contiguous: nothing else uses the arena while they are read */
		syr_candidate *x = (syr_candidate *)syr_alloc(sizeof(syr_candidate));
		if (!x) {
			c->err = 1;
			return;
		}
		if (!base) base = x;
		*x = syr__zero_candidate;
		x->index = n++;
		syr__read_candidate(c, x);
		if (c->err) return;
	}
	in->candidates = base;
	in->ncandidates = n;
}

static int syr__read_input(const char *p, syr_u32 n, syr_input *in) {
	syr__cur c = {p, p + n, 0};
	int first = 1;
	syr_str k;
	in->request = syr__zero_request;
	in->request.priority = 5;
	if (!syr__eat(&c, '{')) return 0;
	while (syr__member(&c, &first, &k)) {
		if (SYR__IS(k, "request")) syr__read_request(&c, &in->request);
		else if (SYR__IS(k, "candidates")) syr__read_candidates(&c, in);
		else if (SYR__IS(k, "abi")) in->abi = syr__int(&c);
		else if (SYR__IS(k, "now_unix_ms")) in->now_unix_ms = syr__int(&c);
		else if (SYR__IS(k, "random_seed")) {
			syr__ws(&c);
			syr_u64 v = 0;
			while (c.p < c.end && (syr_u8)(*c.p - '0') <= 9) v = v * 10 + (syr_u64)(*c.p++ - '0');
			if (c.p < c.end && (*c.p == '.' || *c.p == 'e' || *c.p == 'E' || *c.p == '-')) syr__number(&c, 0);
			in->random_seed = v;
		} else if (SYR__IS(k, "previous")) in->previous = syr__raw(&c);
		else syr__skip(&c);
		if (c.err) return 0;
	}
	syr__ws(&c);
	return !c.err && c.p == c.end;
}

/* ---- public JSON helpers ---- */
double syr_budget_fraction(const syr_budget *b) {
	if (!b->present || !(b->usd > 0)) return 0;
	double f = b->remaining_usd / b->usd;
	return f < 0 ? 0 : f > 1 ? 1 : f;
}

static double syr__limit_fraction(int present, syr_i64 remaining, syr_i64 limit) {
	if (!present || limit <= 0) return 1;
	double f = (double)remaining / (double)limit;
	return f < 0 ? 0 : f > 1 ? 1 : f;
}

double syr_rpm_fraction(const syr_limits *l) { return syr__limit_fraction(l->present, l->rpm_remaining, l->rpm); }
double syr_tpm_fraction(const syr_limits *l) { return syr__limit_fraction(l->present, l->tpm_remaining, l->tpm); }

int syr_kind(syr_raw v) {
	if (!v.n) return SYR_MISSING;
	switch (v.p[0]) {
	case 'n':
		return SYR_NULL;
	case 't':
	case 'f':
		return SYR_BOOL;
	case '"':
		return SYR_STRING;
	case '[':
		return SYR_ARRAY;
	case '{':
		return SYR_OBJECT;
	}
	return SYR_NUMBER;
}

syr_iter syr_iter_of(syr_raw v) {
	syr_iter it = {v.p, v.p + v.n, 1, 0, 0};
	syr__cur c = {v.p, v.p + v.n, 0};
	syr__ws(&c);
	if (c.p < c.end && (*c.p == '{' || *c.p == '[')) {
		it.close = *c.p == '{' ? '}' : ']';
		it.p = c.p + 1;
	} else {
		it.err = 1;
	}
	return it;
}

int syr_next(syr_iter *it, syr_str *key, syr_raw *val) {
	if (it->err) return 0;
	syr__cur c = {it->p, it->end, 0};
	int ok;
	syr_str k = {0, 0};
	if (it->close == '}') ok = syr__member(&c, &it->first, &k);
	else ok = syr__element(&c, &it->first);
	if (ok) {
		syr_raw v = syr__raw(&c);
		if (key) *key = k;
		if (val) *val = v;
	}
	it->p = c.p;
	if (c.err) it->err = 1;
	return ok && !c.err;
}

syr_raw syr_get(syr_raw object, const char *key) {
	syr_raw none = {0, 0}, v;
	syr_str k;
	syr_iter it = syr_iter_of(object);
	if (it.close != '}') return none;
	while (syr_next(&it, &k, &v))
		if (syr_eq(k, key)) return v;
	return none;
}

syr_i64 syr_int(syr_raw v, syr_i64 def) {
	if (syr_kind(v) != SYR_NUMBER) return def;
	syr__cur c = {v.p, v.p + v.n, 0};
	syr_i64 i = 0;
	syr__number(&c, &i);
	return c.err ? def : i;
}

double syr_num(syr_raw v, double def) {
	if (syr_kind(v) != SYR_NUMBER) return def;
	syr__cur c = {v.p, v.p + v.n, 0};
	double d = syr__number(&c, 0);
	return c.err ? def : d;
}

int syr_bool(syr_raw v, int def) {
	if (syr_kind(v) != SYR_BOOL) return def;
	return v.p[0] == 't';
}

syr_str syr_string(syr_raw v) {
	syr_str s = {0, 0};
	if (syr_kind(v) != SYR_STRING || v.n < 2) return s;
	s.p = v.p + 1;
	s.n = v.n - 2;
	return s;
}

static int syr__hex(char ch) {
	if ((syr_u8)(ch - '0') <= 9) return ch - '0';
	ch |= 0x20;
	if ((syr_u8)(ch - 'a') <= 5) return ch - 'a' + 10;
	return -1;
}

static syr_u32 syr__hex4(const char *p) {
	int a = syr__hex(p[0]), b = syr__hex(p[1]), c = syr__hex(p[2]), d = syr__hex(p[3]);
	if ((a | b | c | d) < 0) return 0xfffd;
	return (syr_u32)(a << 12 | b << 8 | c << 4 | d);
}

syr_u32 syr_unescape(syr_str s, char *dst, syr_u32 cap) {
	syr_u32 o = 0;
#define SYR__PUT(ch)                               \
	do {                                       \
		if (o < cap) dst[o] = (char)(ch); \
		o++;                               \
	} while (0)
	for (syr_u32 i = 0; i < s.n; i++) {
		char ch = s.p[i];
		if (ch != '\\' || i + 1 >= s.n) {
			SYR__PUT(ch);
			continue;
		}
		ch = s.p[++i];
		switch (ch) {
		case 'b': SYR__PUT('\b'); break;
		case 'f': SYR__PUT('\f'); break;
		case 'n': SYR__PUT('\n'); break;
		case 'r': SYR__PUT('\r'); break;
		case 't': SYR__PUT('\t'); break;
		case 'u': {
			syr_u32 r = 0xfffd;
			if (i + 4 < s.n) {
				r = syr__hex4(s.p + i + 1);
				i += 4;
				if (r >= 0xd800 && r < 0xdc00 && i + 6 < s.n && s.p[i + 1] == '\\' && s.p[i + 2] == 'u') {
					syr_u32 lo = syr__hex4(s.p + i + 3);
					if (lo >= 0xdc00 && lo < 0xe000) {
						r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
						i += 6;
					}
				}
				if (r >= 0xd800 && r < 0xe000) r = 0xfffd;
			} else {
				i = s.n;
			}
			if (r < 0x80) SYR__PUT(r);
			else if (r < 0x800) {
				SYR__PUT(0xc0 | r >> 6);
				SYR__PUT(0x80 | (r & 0x3f));
			} else if (r < 0x10000) {
				SYR__PUT(0xe0 | r >> 12);
				SYR__PUT(0x80 | (r >> 6 & 0x3f));
				SYR__PUT(0x80 | (r & 0x3f));
			} else {
				SYR__PUT(0xf0 | r >> 18);
				SYR__PUT(0x80 | (r >> 12 & 0x3f));
				SYR__PUT(0x80 | (r >> 6 & 0x3f));
				SYR__PUT(0x80 | (r & 0x3f));
			}
			break;
		}
		default: SYR__PUT(ch); /* \" \\ \/ */
		}
	}
#undef SYR__PUT
	return o;
}

/* syr__has_byte reports whether b occurs in p[0..n), eight bytes a step. */
static int syr__has_byte(const char *p, syr_u32 n, char b) {
	syr_u64 pat = SYR__ONES * (syr_u8)b, w, x;
	syr_u32 i = 0;
	if (n > 8)
		for (; i + 8 <= n; i += 8) {
			x = syr__ld8(p + i) ^ pat;
			if ((x - SYR__ONES) & ~x & SYR__HIGHS) return 1;
		}
	if (i == n) return 0;
	w = ~pat; /* padding bytes differ from b in every bit */
	__builtin_memcpy(&w, p + i, n - i);
	x = w ^ pat;
	return ((x - SYR__ONES) & ~x & SYR__HIGHS) != 0;
}

static int syr__eqn(syr_str s, const char *text, syr_u32 n) {
	if (s.n == n && syr__same(s.p, text, n)) return !syr__has_byte(text, n, '\\');
	if (s.n < n || !syr__has_byte(s.p, s.n, '\\')) return 0;
	char *tmp = (char *)syr_alloc(s.n);
	if (!tmp) return 0;
	return syr_unescape(s, tmp, s.n) == n && syr__same(tmp, text, n);
}

int syr_eq(syr_str s, const char *text) { return syr__eqn(s, text, syr__strlen(text)); }
int syr__eq_lit(syr_str s, const char *text, syr_u32 n) { return syr__eqn(s, text, n); }

int syr_has(syr_raw array, const char *text) {
	syr_u32 n = syr__strlen(text);
	syr_raw v;
	syr_iter it = syr_iter_of(array);
	if (it.close != ']') return 0;
	while (syr_next(&it, 0, &v))
		if (syr_kind(v) == SYR_STRING && syr__eqn(syr_string(v), text, n)) return 1;
	return 0;
}

/* ---- the string builder ---- */
syr_buf syr_buf_new(syr_u32 cap) {
	syr_buf b = {(char *)syr_alloc(cap), 0, cap};
	if (!b.p) b.cap = 0;
	return b;
}

void syr_buf_str(syr_buf *b, const char *s) {
	for (; *s && b->n < b->cap; s++) b->p[b->n++] = *s;
}

void syr_buf_int(syr_buf *b, syr_i64 v) {
	char t[24];
	int n = 0;
	syr_u64 u = v < 0 ? 0 - (syr_u64)v : (syr_u64)v;
	do {
		t[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0) t[n++] = '-';
	while (n && b->n < b->cap) b->p[b->n++] = t[--n];
}

syr_str syr_buf_done(const syr_buf *b) {
	syr_str s = {b->p, b->n};
	return s;
}

/* ---- the decision ---- */
void syr_target(syr_decision *d, const syr_candidate *c) {
	if (d->ntargets >= SYR_MAX_TARGETS) {
		d->dropped_targets++;
		return;
	}
	syr__target t = {c->provider, c->model, 1};
	d->targets[d->ntargets++] = t;
}

void syr_target_names(syr_decision *d, const char *provider, const char *model) {
	if (d->ntargets >= SYR_MAX_TARGETS) {
		d->dropped_targets++;
		return;
	}
	syr__target t = {syr_cstr(provider), syr_cstr(model), 0};
	d->targets[d->ntargets++] = t;
}

void syr_reason(syr_decision *d, const char *reason) { d->reason = syr_cstr(reason); }
void syr_reason_str(syr_decision *d, syr_str reason) { d->reason = reason; }
void syr_tag(syr_decision *d, const char *tag) {
	if (d->ntags < SYR_MAX_TAGS) d->tags[d->ntags++] = syr_cstr(tag);
}
void syr_param_max_tokens(syr_decision *d, syr_i64 n) { d->max_tokens = n; }
void syr_param_temperature(syr_decision *d, double t) {
	d->temperature = t;
	d->has_temperature = 1;
}
void syr_param_top_p(syr_decision *d, double p) {
	d->top_p = p;
	d->has_top_p = 1;
}
void syr_param_stop(syr_decision *d, const char *stop) {
	d->has_stop = 1;
	if (d->nstop < SYR_MAX_STOP) d->stop[d->nstop++] = syr_cstr(stop);
}
void syr_param_reasoning_effort(syr_decision *d, const char *effort) { d->reasoning_effort = syr_cstr(effort); }
void syr_reject(syr_decision *d, int status, const char *message) {
	d->reject_status = status;
	d->reject_message = syr_cstr(message);
}
void syr_fail(syr_decision *d, const char *message) { d->error = syr_cstr(message); }

void syr_verdict_set(syr_verdict *v, const char *verdict, const char *reason) {
	v->verdict = verdict;
	v->reason = syr_cstr(reason);
}

/* ---- output ---- */
typedef struct {
	char *p;
	syr_u32 n, cap;
	int over;
} syr__out;

static void syr__put(syr__out *o, const char *s, syr_u32 n) {
	if (o->n + n > o->cap) {
		o->over = 1;
		return;
	}
	__builtin_memcpy(o->p + o->n, s, n);
	o->n += n;
}

#define SYR__PUTS(o, lit) syr__put((o), lit, sizeof(lit) - 1)

/* syr__put_string writes s as a JSON string; escaped says s is already. */
static void syr__put_string(syr__out *o, syr_str s, int escaped) {
	static const char hex[] = "0123456789abcdef";
	SYR__PUTS(o, "\"");
	if (escaped) {
		syr__put(o, s.p, s.n);
	} else {
		syr_u32 start = 0;
		for (syr_u32 i = 0; i < s.n; i++) {
			syr_u8 b = (syr_u8)s.p[i];
			if (b >= 0x20 && b != '"' && b != '\\') continue;
			syr__put(o, s.p + start, i - start);
			char e[6] = {'\\', 'u', '0', '0', hex[b >> 4], hex[b & 15]};
			if (b == '"' || b == '\\') {
				e[1] = (char)b;
				syr__put(o, e, 2);
			} else if (b == '\n' || b == '\r' || b == '\t') {
				e[1] = b == '\n' ? 'n' : b == '\r' ? 'r' : 't';
				syr__put(o, e, 2);
			} else {
				syr__put(o, e, 6);
			}
			start = i + 1;
		}
		syr__put(o, s.p + start, s.n - start);
	}
	SYR__PUTS(o, "\"");
}

static void syr__put_int(syr__out *o, syr_i64 v) {
	char t[24];
	syr_buf b = {t, 0, sizeof t};
	syr_buf_int(&b, v);
	syr__put(o, t, b.n);
}

/* syr__put_num writes a finite double with up to 9 decimals (enough for
 * temperature and top_p). */
static void syr__put_num(syr__out *o, double v) {
	if (!(v == v) || v > 1e15 || v < -1e15) v = 0;
	if (v < 0) {
		SYR__PUTS(o, "-");
		v = -v;
	}
	syr_u64 ip = (syr_u64)v, fp = (syr_u64)((v - (double)ip) * 1e9 + 0.5);
	if (fp >= 1000000000ULL) {
		ip++;
		fp -= 1000000000ULL;
	}
	syr__put_int(o, (syr_i64)ip);
	if (fp) {
		char t[10];
		int n = 9;
		for (int i = 8; i >= 0; i--, fp /= 10) t[i] = (char)('0' + fp % 10);
		while (n > 1 && t[n - 1] == '0') n--;
		SYR__PUTS(o, ".");
		syr__put(o, t, (syr_u32)n);
	}
}

static syr_u64 syr__emit(syr__out *o) {
	if (o->over) {
		o->n = 0;
		o->over = 0;
		SYR__PUTS(o, "{\"error\":\"switchyard_rule: output larger than 64 KiB\"}");
	}
	return ((syr_u64)(syr_u32)(__SIZE_TYPE__)o->p << 32) | o->n;
}

static syr_u64 syr__error(syr__out *o, const char *msg) {
	syr_str s = syr_cstr(msg);
	o->n = 0;
	SYR__PUTS(o, "{\"error\":");
	syr__put_string(o, s, 0);
	SYR__PUTS(o, "}");
	return syr__emit(o);
}

static int syr__out_init(syr__out *o) {
	o->p = (char *)syr_alloc(SYR_MAX_OUTPUT);
	o->n = 0;
	o->cap = o->p ? SYR_MAX_OUTPUT : 0;
	o->over = 0;
	return o->p != 0;
}

static syr_decision syr__d;
static syr_input syr__in;

syr_u64 syr__route(const char *p, syr_u32 n, syr_route_fn fn) {
	syr_decision *d = &syr__d;
	syr__out o;
	syr__reset();
	if (!syr__out_init(&o)) return 0;
	syr__in = (syr_input){0};
	if (!syr__read_input(p, n, &syr__in)) return syr__error(&o, "switchyard_rule: input is not valid ABI v1 JSON");
	d->ntargets = d->dropped_targets = d->ntags = d->nstop = 0;
	d->reason = d->reject_message = d->error = d->reasoning_effort = (syr_str){0, 0};
	d->max_tokens = 0;
	d->has_temperature = d->has_top_p = d->has_stop = d->reject_status = 0;
	fn(&syr__in, d);
	if (d->error.p) {
		syr__out e = o;
		e.n = 0;
		SYR__PUTS(&e, "{\"error\":");
		syr__put_string(&e, d->error, 0);
		SYR__PUTS(&e, "}");
		return syr__emit(&e);
	}
	if (!d->reject_status && !d->ntargets) return 0;
	SYR__PUTS(&o, "{");
	if (d->reject_status) {
		SYR__PUTS(&o, "\"reject\":{\"status\":");
		syr__put_int(&o, d->reject_status);
		SYR__PUTS(&o, ",\"message\":");
		syr__put_string(&o, d->reject_message, 0);
		SYR__PUTS(&o, "}");
	} else {
		SYR__PUTS(&o, "\"targets\":[");
		for (syr_u32 i = 0; i < d->ntargets; i++) {
			syr__target *t = &d->targets[i];
			if (i) SYR__PUTS(&o, ",");
			SYR__PUTS(&o, "{\"provider\":");
			syr__put_string(&o, t->provider, t->escaped);
			SYR__PUTS(&o, ",\"model\":");
			syr__put_string(&o, t->model, t->escaped);
			SYR__PUTS(&o, "}");
		}
		SYR__PUTS(&o, "]");
		if (d->max_tokens > 0 || d->has_temperature || d->has_top_p || d->has_stop || d->reasoning_effort.p) {
			const char *sep = "";
			SYR__PUTS(&o, ",\"params\":{");
			if (d->max_tokens > 0) {
				SYR__PUTS(&o, "\"max_tokens\":");
				syr__put_int(&o, d->max_tokens);
				sep = ",";
			}
			if (d->has_temperature) {
				syr__put(&o, sep, syr__strlen(sep));
				SYR__PUTS(&o, "\"temperature\":");
				syr__put_num(&o, d->temperature);
				sep = ",";
			}
			if (d->has_top_p) {
				syr__put(&o, sep, syr__strlen(sep));
				SYR__PUTS(&o, "\"top_p\":");
				syr__put_num(&o, d->top_p);
				sep = ",";
			}
			if (d->has_stop) {
				syr__put(&o, sep, syr__strlen(sep));
				SYR__PUTS(&o, "\"stop\":[");
				for (syr_u32 i = 0; i < d->nstop; i++) {
					if (i) SYR__PUTS(&o, ",");
					syr__put_string(&o, d->stop[i], 0);
				}
				SYR__PUTS(&o, "]");
				sep = ",";
			}
			if (d->reasoning_effort.p) {
				syr__put(&o, sep, syr__strlen(sep));
				SYR__PUTS(&o, "\"reasoning_effort\":");
				syr__put_string(&o, d->reasoning_effort, 0);
			}
			SYR__PUTS(&o, "}");
		}
	}
	if (d->reason.n) {
		SYR__PUTS(&o, ",\"reason\":");
		syr__put_string(&o, d->reason, 0);
	}
	if (d->ntags) {
		SYR__PUTS(&o, ",\"tags\":[");
		for (syr_u32 i = 0; i < d->ntags; i++) {
			if (i) SYR__PUTS(&o, ",");
			syr__put_string(&o, d->tags[i], 0);
		}
		SYR__PUTS(&o, "]");
	}
	SYR__PUTS(&o, "}");
	return syr__emit(&o);
}

syr_i32 syr__init(const char *p, syr_u32 n, syr_init_fn fn) {
	syr__reset();
	syr__cur c = {p, p + n, 0};
	syr__ws(&c);
	syr_raw cfg = {"{}", 2};
	if (c.p < c.end) {
		cfg = syr__raw(&c);
		syr__ws(&c);
		if (c.err || c.p != c.end) return -1;
	}
	return fn ? fn(cfg) : 0;
}

syr_u64 syr__validate(const char *p, syr_u32 n, syr_validate_fn fn) {
	static syr_validation v;
	static syr_verdict verdict;
	syr__out o;
	syr__reset();
	if (!syr__out_init(&o)) return 0;
	v = (syr_validation){0};
	v.request.priority = 5;
	verdict = (syr_verdict){0};
	syr__cur c = {p, p + n, 0};
	int first = 1;
	syr_str k;
	if (!syr__eat(&c, '{')) c.err = 1;
	while (!c.err && syr__member(&c, &first, &k)) {
		if (SYR__IS(k, "request")) syr__read_request(&c, &v.request);
		else if (SYR__IS(k, "target")) {
			syr_raw t = syr__raw(&c);
			v.target_provider = syr_string(syr_get(t, "provider"));
			v.target_model = syr_string(syr_get(t, "model"));
		} else if (SYR__IS(k, "answer")) {
			v.answer = syr__raw(&c);
			v.content = syr_string(syr_get(v.answer, "content"));
			v.finish_reason = syr_string(syr_get(v.answer, "finish_reason"));
			v.tool_calls = syr_get(v.answer, "tool_calls");
			v.usage = syr_get(v.answer, "usage");
		} else syr__skip(&c);
	}
	if (c.err) return syr__error(&o, "switchyard_rule: validation input is not valid JSON");
	fn(&v, &verdict);
	if (verdict.error.p) {
		o.n = 0;
		SYR__PUTS(&o, "{\"error\":");
		syr__put_string(&o, verdict.error, 0);
		SYR__PUTS(&o, "}");
		return syr__emit(&o);
	}
	if (!verdict.verdict) return 0;
	SYR__PUTS(&o, "{\"verdict\":");
	syr__put_string(&o, syr_cstr(verdict.verdict), 0);
	if (verdict.reason.n) {
		SYR__PUTS(&o, ",\"reason\":");
		syr__put_string(&o, verdict.reason, 0);
	}
	SYR__PUTS(&o, "}");
	return syr__emit(&o);
}

void syr_log(int level, const char *msg) { syr__host_log(level, msg, syr__strlen(msg)); }
void syr_logn(int level, const char *msg, syr_u32 n) { syr__host_log(level, msg, n); }

#endif /* SWITCHYARD_RULE_IMPLEMENTED */
#endif /* SWITCHYARD_RULE_IMPLEMENTATION */
