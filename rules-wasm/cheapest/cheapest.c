// cheapest: a Switchyard rule (ABI v1) in C, built without libc:
//   clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry \
//     -o bin/rules/cheapest.wasm rules-wasm/cheapest/cheapest.c
// Routes routine requests to the cheapest candidates that can serve them.
// See README.md.

#define EXPORT(name) __attribute__((export_name(name)))

typedef unsigned long size_t;

enum { MAX_INPUT = 256 * 1024, MAX_CANDS = 64, MAX_DEPTH = 64 };

static unsigned char input[MAX_INPUT];
static char out[16 * 1024];

// Configuration (sy_init).
static int max_targets = 2;
static double max_out_price = 0; // 0: no cap
static long max_priority = 10;   // requests above this priority: no opinion
static long default_output = 1024;

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

typedef struct {
	const unsigned char *p, *end;
	int err;
} cursor;

typedef struct {
	const unsigned char *s;
	int n;
} str;

typedef struct {
	str provider, model, circuit;
	double ctx, in, out;
	int healthy;
	double cost;
} cand;

static cand cands[MAX_CANDS];
static int ncands;

// ws skips white space. Entering a loop costs a deadline check in the host
// even when it runs no iteration, so compact input takes no loop here.
static void ws(cursor *c) {
	if (c->p >= c->end || *c->p > ' ') return;
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\t' || *c->p == '\r')) c->p++;
}

static int eat(cursor *c, unsigned char ch) {
	ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return 1;
	}
	return 0;
}

static int lit(cursor *c, const char *w) {
	const unsigned char *p = c->p;
	for (; *w; w++, p++)
		if (p >= c->end || *p != (unsigned char)*w) return 0;
	c->p = p;
	return 1;
}

// string reads a JSON string and returns its raw (still escaped) content,
// which can be copied into JSON output as it is.
static str string(cursor *c) {
	str s = {0, 0};
	ws(c);
	if (c->p >= c->end || *c->p != '"') {
		c->err = 1;
		return s;
	}
	const unsigned char *start = ++c->p;
	// Eight bytes at a time while none is a quote, a backslash or a control
	// character: every loop iteration costs a deadline check in the host.
	while (c->end - c->p >= 8) {
		unsigned long long w, q, e;
		__builtin_memcpy(&w, c->p, 8);
		q = w ^ (ONES * '"');
		e = w ^ (ONES * '\\');
		if ((((q - ONES) & ~q) | ((e - ONES) & ~e) | ((w - ONES * 0x20) & ~w)) & HIGHS) break;
		c->p += 8;
	}
	while (c->p < c->end && *c->p != '"') {
		if (*c->p < 0x20) break;
		if (*c->p == '\\') c->p++;
		c->p++;
	}
	if (c->p >= c->end || *c->p != '"') {
		c->err = 1;
		return s;
	}
	s.s = start;
	s.n = (int)(c->p - start);
	c->p++;
	return s;
}

static double number(cursor *c) {
	ws(c);
	double sign = 1, v = 0, scale = 1;
	int digits = 0;
	if (c->p < c->end && *c->p == '-') {
		sign = -1;
		c->p++;
	}
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		v = v * 10 + (*c->p++ - '0');
		digits++;
	}
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
			v = v * 10 + (*c->p++ - '0');
			scale *= 10;
			digits++;
		}
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		int eneg = 0, e = 0;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-')) eneg = *c->p++ == '-';
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
			if (e < 400) e = e * 10 + (*c->p - '0');
			c->p++;
		}
		for (; e > 0; e--) scale = eneg ? scale * 10 : scale / 10;
	}
	if (!digits) c->err = 1;
	return sign * v / scale;
}

// skip consumes any JSON value.
static void skip(cursor *c) {
	int depth = 0;
	do {
		ws(c);
		if (c->p >= c->end) {
			c->err = 1;
			return;
		}
		switch (*c->p) {
		case '{':
		case '[':
			if (++depth > MAX_DEPTH) {
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
		case '"':
			string(c);
			break;
		case ',':
		case ':':
			c->p++;
			continue;
		case 't':
			if (!lit(c, "true")) c->err = 1;
			break;
		case 'f':
			if (!lit(c, "false")) c->err = 1;
			break;
		case 'n':
			if (!lit(c, "null")) c->err = 1;
			break;
		default:
			number(c);
		}
	} while (depth > 0 && !c->err);
}

// is compares a raw string with a literal; the length test first keeps
// most comparisons loop-free.
#define is(str_, lit_) ((str_).n == (int)sizeof(lit_) - 1 && same((str_).s, lit_, (int)sizeof(lit_) - 1))

static int same(const unsigned char *a, const char *b, int n) {
	for (int i = 0; i < n; i++)
		if (a[i] != (unsigned char)b[i]) return 0;
	return 1;
}

// members iterates an object: returns 1 with *key set while members remain.
static int member(cursor *c, int *first, str *key) {
	if (eat(c, '}')) return 0;
	if (!*first && !eat(c, ',')) {
		c->err = 1;
		return 0;
	}
	*first = 0;
	*key = string(c);
	if (c->err || !eat(c, ':')) {
		c->err = 1;
		return 0;
	}
	return 1;
}

static int element(cursor *c, int *first) {
	if (eat(c, ']')) return 0;
	if (!*first && !eat(c, ',')) {
		c->err = 1;
		return 0;
	}
	*first = 0;
	return 1;
}

static char *put(char *o, const char *s) {
	while (*s) *o++ = *s++;
	return o;
}

static char *putn(char *o, const unsigned char *s, int n) {
	for (int i = 0; i < n; i++) *o++ = (char)s[i];
	return o;
}

static char *putint(char *o, long v) {
	char t[24];
	int n = 0;
	if (v < 0) {
		*o++ = '-';
		v = -v;
	}
	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < 20);
	while (n) *o++ = t[--n];
	return o;
}

EXPORT("sy_abi_v1") void sy_abi_v1(void) {}

EXPORT("sy_alloc") unsigned char *sy_alloc(size_t size) {
	return size <= MAX_INPUT ? input : 0;
}

// sy_init reads {"max_targets":N,"max_usd_per_mtok_out":X,"max_priority":P,
// "default_output_tokens":T}; every key is optional.
EXPORT("sy_init") int sy_init(unsigned char *ptr, size_t len) {
	cursor c = {ptr, ptr + len, 0};
	ws(&c);
	if (c.p == c.end) return 0;
	if (!eat(&c, '{')) return 1;
	int first = 1;
	str k;
	while (member(&c, &first, &k)) {
		if (is(k, "max_targets")) max_targets = (int)number(&c);
		else if (is(k, "max_usd_per_mtok_out")) max_out_price = number(&c);
		else if (is(k, "max_priority")) max_priority = (long)number(&c);
		else if (is(k, "default_output_tokens")) default_output = (long)number(&c);
		else return 2; // unknown key
	}
	if (c.err || max_targets < 1 || max_targets > MAX_CANDS || max_out_price < 0 || default_output < 0) return 3;
	return 0;
}

static void read_candidate(cursor *c) {
	cand x = {{0, 0}, {0, 0}, {0, 0}, 0, 0, 0, 0, 0};
	int first = 1;
	str k;
	if (!eat(c, '{')) {
		c->err = 1;
		return;
	}
	while (member(c, &first, &k)) {
		if (is(k, "provider")) x.provider = string(c);
		else if (is(k, "model")) x.model = string(c);
		else if (is(k, "circuit")) x.circuit = string(c);
		else if (is(k, "context_window")) x.ctx = number(c);
		else if (is(k, "usd_per_mtok_in")) x.in = number(c);
		else if (is(k, "usd_per_mtok_out")) x.out = number(c);
		else if (is(k, "healthy")) x.healthy = lit(c, "true") ? 1 : (lit(c, "false") ? 0 : (c->err = 1, 0));
		else skip(c);
	}
	x.cost = 3 * x.in + x.out;
	if (ncands < MAX_CANDS) cands[ncands++] = x;
}

// sy_route returns out_ptr<<32 | out_len, or 0 for no opinion.
EXPORT("sy_route") unsigned long long sy_route(unsigned char *ptr, size_t len) {
	cursor c = {ptr, ptr + len, 0};
	long priority = 5, prompt = 0, maxtok = 0;
	ncands = 0;
	int first = 1;
	str k;
	if (!eat(&c, '{')) return 0;
	while (member(&c, &first, &k)) {
		if (is(k, "request")) {
			int f2 = 1;
			str k2;
			if (lit(&c, "null")) continue;
			if (!eat(&c, '{')) return 0;
			while (member(&c, &f2, &k2)) {
				if (is(k2, "priority")) priority = (long)number(&c);
				else if (is(k2, "prompt_tokens_estimate")) prompt = (long)number(&c);
				else if (is(k2, "max_tokens")) maxtok = (long)number(&c);
				else skip(&c);
			}
		} else if (is(k, "candidates")) {
			int f2 = 1;
			if (lit(&c, "null")) continue;
			if (!eat(&c, '[')) return 0;
			while (element(&c, &f2)) read_candidate(&c);
		} else {
			skip(&c);
		}
		if (c.err) return 0;
	}
	if (c.err || priority > max_priority) return 0;

	long need = prompt + (maxtok > 0 ? maxtok : default_output);
	int order[MAX_CANDS], n = 0;
	for (int i = 0; i < ncands; i++) {
		cand *x = &cands[i];
		if (!x->healthy || is(x->circuit, "open")) continue;
		if (x->ctx > 0 && x->ctx < (double)need) continue;
		if (max_out_price > 0 && x->out > max_out_price) continue;
		// insertion sort by cost, stable
		int j = n++;
		while (j > 0 && cands[order[j - 1]].cost > x->cost) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	if (n == 0) return 0;

	char *o = put(out, "{\"targets\":[");
	int m = n < max_targets ? n : max_targets;
	for (int i = 0; i < m; i++) {
		cand *x = &cands[order[i]];
		if ((o - out) + x->provider.n + x->model.n + 64 > (long)sizeof(out) - 128) break;
		if (i) *o++ = ',';
		o = put(o, "{\"provider\":\"");
		o = putn(o, x->provider.s, x->provider.n);
		o = put(o, "\",\"model\":\"");
		o = putn(o, x->model.s, x->model.n);
		o = put(o, "\"}");
	}
	o = put(o, "],\"reason\":\"cheapest of ");
	o = putint(o, n);
	o = put(o, " candidates that fit ");
	o = putint(o, need);
	o = put(o, " tokens\",\"tags\":[\"cheapest\"]}");
	return ((unsigned long long)(size_t)out << 32) | (unsigned long long)(o - out);
}
