package rule

import (
	"strconv"
	"unsafe"
)

// Input is the decoded sy_route input (Rule ABI v1, api/rules/ABI.md).
//
// The SDK reuses one Input (and its slices and maps) for every call: a rule
// may keep strings it read from it, but must not keep the Input, its slices
// or its maps after its route function returns.
type Input struct {
	ABI        int64
	NowUnixMS  int64
	RandomSeed uint64
	Request    Request
	Candidates []Candidate
	// Previous is the raw JSON of the earlier decision when the chain runs
	// again after a validation verdict of fallback; "" when null or absent.
	Previous string

	recent  *recentStrings // strings of earlier inputs, reused (read.go)
	content Content        // where Request.Content points, reused (read.go)
	budget  Budget         // where Request.Budget points, reused (read.go)
	limits  Limits         // where Request.Limits points, reused (read.go)
}

// Endpoints: the values of Request.Endpoint, the API the client's request came in
// through. A request of any of them reaches the rules the same way (the router
// translates it to chat); a rule may route by it.
const (
	EndpointChat        = "chat.completions"
	EndpointResponses   = "responses"
	EndpointMessages    = "messages"
	EndpointEmbeddings  = "embeddings"
	EndpointCompletions = "completions"
)

// Request is the compact view of the client's request.
type Request struct {
	ID                   string
	Endpoint             string // one of the Endpoint* constants
	Model                string
	Stream               bool
	Priority             int64 // 1..10, 10 is the most important
	PromptTokensEstimate int64
	MaxTokens            int64 // 0 when the client set none
	Messages             int64
	Chars                int64
	HasTools             bool
	HasImages            bool
	JSONMode             bool
	Key                  string // the client key's configured name, never the secret
	Team                 string // the key's team (its team: in the router config), "" when none
	User                 string
	// Budget is the calling key's spend budget and what is left of it, before
	// this request; nil when the key has none (or for an older router).
	Budget *Budget
	// Limits are the calling key's rate limits for the requested model and
	// their headroom, before this request; nil when the key has none.
	Limits *Limits
	Tags   []string
	// Metadata holds the request's metadata; values that are not JSON
	// strings are kept as their JSON text (e.g. `3`, `{"a":1}`).
	Metadata map[string]string
	// Headers holds only the headers the rule's config asks for
	// (lowercased names).
	Headers map[string]string
	// Content is what the rule sees of the prompt when its router config
	// opts in (content: {max_bytes: N}); nil otherwise. A rule that needs it
	// should fail with a message saying so (Decision.Fail) when it is nil.
	Content *Content
}

// Content is request.content (api/rules/ABI.md): the prompt's text, cut to the
// rule's max_bytes on a UTF-8 boundary, and facts about the whole request.
type Content struct {
	LastUser       string // the last user message's text parts, joined with "\n"
	System         string // the system and developer messages' text, joined with "\n"
	HasCodeFence   bool   // "```" in any user, system or developer text (all of it, not only what is cut)
	HasImage       bool   // an image part in any message
	HasToolResults bool   // a message of role tool
	// LanguageHint is the script most letters of the last user message are
	// written in: "latin", "cyrillic", "greek", "arabic", "hebrew", "han",
	// "japanese", "korean", "devanagari", "thai", or "" when none has more
	// than half of them.
	LanguageHint string
}

// Budget is request.budget (api/rules/ABI.md): the calling key's spend budget in
// the current period, before this request is counted. The router refuses the key
// once it is spent; a rule may act earlier, such as by routing to cheaper models.
type Budget struct {
	USD          float64 // the budget per period, in USD
	Period       string  // one of the BudgetPeriod* constants
	SpentUSD     float64 // spent in the current period
	RemainingUSD float64 // USD - SpentUSD, 0 once the spend has reached the budget
	ResetsUnixMS int64   // when the period ends and the spend starts again at 0; 0 for "total"
}

// Budget periods: the values of Budget.Period. Days, weeks (from Monday) and
// months are UTC calendar periods; a total budget never resets.
const (
	BudgetPeriodDay   = "day"
	BudgetPeriodWeek  = "week"
	BudgetPeriodMonth = "month"
	BudgetPeriodTotal = "total"
)

// RemainingFraction returns the share of the budget left, RemainingUSD / USD,
// within 0..1; 0 for a budget of 0 USD.
func (b *Budget) RemainingFraction() float64 {
	if !(b.USD > 0) {
		return 0
	}
	return min(max(b.RemainingUSD/b.USD, 0), 1)
}

// Limits is request.limits (api/rules/ABI.md): the calling key's rate limits per
// minute for the requested model (the tightest of its own and its per-model ones)
// and what is left of each in the current minute, before this request is
// counted. A limit of 0 is none; its remaining is then 0 and means nothing.
type Limits struct {
	RPM          int64 // requests per minute, 0: no limit
	RPMRemaining int64 // requests left in the current minute
	TPM          int64 // tokens per minute, 0: no limit
	TPMRemaining int64 // tokens left in the current minute
}

// RPMFraction returns the share of the request limit left, RPMRemaining / RPM,
// within 0..1; 1 when there is no request limit.
func (l *Limits) RPMFraction() float64 { return fraction(l.RPMRemaining, l.RPM) }

// TPMFraction returns the share of the token limit left, TPMRemaining / TPM,
// within 0..1; 1 when there is no token limit.
func (l *Limits) TPMFraction() float64 { return fraction(l.TPMRemaining, l.TPM) }

func fraction(remaining, limit int64) float64 {
	if limit <= 0 {
		return 1
	}
	return min(max(float64(remaining)/float64(limit), 0), 1)
}

// Candidate is one target the rule may choose, with live statistics.
type Candidate struct {
	Provider      string
	Model         string
	ContextWindow int64
	USDPerMTokIn  float64
	USDPerMTokOut float64
	Capabilities  []string
	Healthy       bool
	Circuit       string // "closed", "half_open" or "open"
	P50MS         float64
	P95MS         float64
	ErrorRate     float64
	Inflight      int64
}

// Has reports whether the candidate lists the capability.
func (c *Candidate) Has(capability string) bool {
	for _, x := range c.Capabilities {
		if x == capability {
			return true
		}
	}
	return false
}

// Target returns the candidate as a decision target.
func (c *Candidate) Target() Target { return Target{Provider: c.Provider, Model: c.Model} }

// ReadInput decodes the ABI input JSON into in, reusing in's slices and
// maps. Unknown fields are skipped, so newer hosts can add fields. Strings
// in the result do not alias data: a rule may keep them, and the caller
// may reuse data.
func ReadInput(data []byte, in *Input) error {
	if in.recent == nil {
		in.recent = new(recentStrings)
	}
	return readInput(unsafe.String(unsafe.SliceData(data), len(data)), in)
}

type abiError int64

func (e abiError) Error() string { return "rule: unsupported abi " + strconv.FormatInt(int64(e), 10) }

func errUnsupportedABI(v int64) error { return abiError(v) }

// uint reads a non-negative integer (random_seed spans all of uint64).
func (sc *scanner) uint() uint64 {
	if sc.null() {
		return 0
	}
	t := sc.number()
	if sc.err != nil {
		return 0
	}
	if n, err := strconv.ParseUint(t, 10, 64); err == nil {
		return n
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f >= 1.8446744073709552e19 {
		sc.fail("bad unsigned number")
		return 0
	}
	return uint64(f)
}

func (r *Request) reset() {
	tags, md, hd := r.Tags[:0], r.Metadata, r.Headers
	clear(md)
	clear(hd)
	*r = Request{Tags: tags, Metadata: md, Headers: hd}
}

func (r *Request) read(sc *scanner) {
	if !sc.object() {
		return
	}
	for first := true; sc.next('}', first); first = false {
		switch sc.key() {
		case "id":
			r.ID = sc.str()
		case "endpoint":
			r.Endpoint = sc.str()
		case "model":
			r.Model = sc.str()
		case "stream":
			r.Stream = sc.bool()
		case "priority":
			r.Priority = sc.int()
		case "prompt_tokens_estimate":
			r.PromptTokensEstimate = sc.int()
		case "max_tokens":
			r.MaxTokens = sc.int()
		case "messages":
			r.Messages = sc.int()
		case "chars":
			r.Chars = sc.int()
		case "has_tools":
			r.HasTools = sc.bool()
		case "has_images":
			r.HasImages = sc.bool()
		case "json_mode":
			r.JSONMode = sc.bool()
		case "key":
			r.Key = sc.str()
		case "team":
			r.Team = sc.str()
		case "user":
			r.User = sc.str()
		case "budget":
			r.Budget = nil
			if b := new(Budget); b.read(sc) {
				r.Budget = b
			}
		case "limits":
			r.Limits = nil
			if l := new(Limits); l.read(sc) {
				r.Limits = l
			}
		case "tags":
			r.Tags = sc.strings(r.Tags)
		case "metadata":
			r.Metadata = sc.stringMap(r.Metadata)
		case "headers":
			r.Headers = sc.stringMap(r.Headers)
		case "content":
			// The fast reader (read.go) reuses one Content; this one, for
			// sy_validate and the tests' reference, need not.
			r.Content = nil
			if c := new(Content); c.read(sc) {
				r.Content = c
			}
		default:
			sc.skip()
		}
	}
}

// read reads a content object into c; false for null.
func (c *Content) read(sc *scanner) bool {
	if !sc.object() {
		return false
	}
	for first := true; sc.next('}', first); first = false {
		switch sc.key() {
		case "last_user":
			c.LastUser = sc.str()
		case "system":
			c.System = sc.str()
		case "has_code_fence":
			c.HasCodeFence = sc.bool()
		case "has_image":
			c.HasImage = sc.bool()
		case "has_tool_results":
			c.HasToolResults = sc.bool()
		case "language_hint":
			c.LanguageHint = sc.str()
		default:
			sc.skip()
		}
	}
	return sc.err == nil
}

// read reads a budget object into b; false for null.
func (b *Budget) read(sc *scanner) bool {
	if !sc.object() {
		return false
	}
	for first := true; sc.next('}', first); first = false {
		switch sc.key() {
		case "usd":
			b.USD = sc.float()
		case "period":
			b.Period = sc.str()
		case "spent_usd":
			b.SpentUSD = sc.float()
		case "remaining_usd":
			b.RemainingUSD = sc.float()
		case "resets_unix_ms":
			b.ResetsUnixMS = sc.int()
		default:
			sc.skip()
		}
	}
	return sc.err == nil
}

// read reads a limits object into l; false for null.
func (l *Limits) read(sc *scanner) bool {
	if !sc.object() {
		return false
	}
	for first := true; sc.next('}', first); first = false {
		switch sc.key() {
		case "rpm":
			l.RPM = sc.int()
		case "rpm_remaining":
			l.RPMRemaining = sc.int()
		case "tpm":
			l.TPM = sc.int()
		case "tpm_remaining":
			l.TPMRemaining = sc.int()
		default:
			sc.skip()
		}
	}
	return sc.err == nil
}
