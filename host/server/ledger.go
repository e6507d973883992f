package server

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-llm/switchyard/host/ledger"
	"github.com/switchyard-llm/switchyard/host/pipeline"
	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/host/wire"
)

// endpointDryRun is POST /v1/switchyard/route, which no limit counts.
const endpointDryRun = "route"

// sampled says whether this request's rule input is recorded (ledger.record_inputs):
// every one, none, or one in N, counted across the process.
func (s *Server) sampled(st *State) bool {
	n := st.Config.Ledger.SampleEvery
	if n <= 0 || s.o.Record == nil {
		return false
	}
	return n == 1 || s.samples.Add(1)%uint64(n) == 0
}

// unrecorded endpoints are not requests for a model: listing models and the admin API
// (issue 13 writes admin actions as audit rows of their own).
func unrecorded(endpoint string) bool {
	return endpoint == "" || endpoint == "models" || strings.HasPrefix(endpoint, "admin.")
}

// record hands the request's ledger row to the writer; it never blocks (a full queue
// drops the row and counts it).
func (s *Server) record(x *exchange) {
	if s.o.Record == nil || unrecorded(x.endpoint) {
		return
	}
	end := s.o.Now()
	r := ledger.Row{ID: x.id, Time: x.start, Key: x.key, Team: x.team, Endpoint: x.endpoint, Route: x.route,
		Status: x.Status(), Code: x.code, Latency: end.Sub(x.start), Overhead: x.overhead, CacheHit: x.cacheHit}
	if x.inBand && r.Code == "" {
		// A stream that ended in an in-band error always has a code; never leave a
		// failed row without one.
		r.Code = wire.CodeInternal
	}
	if o := x.out; o != nil {
		r.Attempts, r.Fallbacks, r.CostUSD = o.Attempts, o.Fallbacks, o.CostUSD
		if o.Target != nil {
			r.Provider, r.Model = o.Target.Provider, o.Target.Name
		}
		if o.Usage != nil {
			r.TokensIn, r.TokensOut, r.TokensCached = o.Usage.PromptTokens, o.Usage.CompletionTokens, o.Usage.CachedPromptTokens
		}
		if !o.FirstByte.IsZero() {
			r.TTFT = o.FirstByte.Sub(x.start)
		}
		if p := o.Plan; p != nil {
			r.Rule = p.Rule
			r.Targets = make([]string, len(p.Targets))
			for i, t := range p.Targets {
				r.Targets[i] = t.Provider + "/" + t.Name
			}
			if x.recordInput && p.Input != nil {
				r.RuleInput = abi.EncodeInput(p.Input, x.st.Pipeline.RuleHeaders())
				r.Trace = traceJSON(p)
			}
		}
	}
	if x.cacheHit {
		r.CostUSD = 0
	}
	s.o.Record(r)
}

// traceJSON is the decision trace kept with a recorded rule input: each rule's outcome,
// output and time (active rules first, shadow rules last), and the decision.
func traceJSON(p *pipeline.Plan) []byte {
	type step struct {
		Rule       string          `json:"rule"`
		Mode       string          `json:"mode"`
		SHA256     string          `json:"sha256"`
		Outcome    string          `json:"outcome"`
		Output     json.RawMessage `json:"output,omitempty"`
		Error      string          `json:"error,omitempty"`
		DurationUS int64           `json:"duration_us"`
	}
	t := struct {
		Rule    string   `json:"rule"`
		Reason  string   `json:"reason,omitempty"`
		Targets []string `json:"targets"`
		Steps   []step   `json:"rules"`
	}{Rule: p.Rule, Reason: p.Reason, Targets: []string{}, Steps: []step{}}
	for _, target := range p.Targets {
		t.Targets = append(t.Targets, target.Provider+"/"+target.Name)
	}
	for _, r := range p.Trace {
		st := step{Rule: r.Rule, Mode: r.Mode, SHA256: r.SHA256, Outcome: r.Outcome, Error: r.Error, DurationUS: r.Duration.Microseconds()}
		if json.Valid(r.Output) {
			st.Output = r.Output
		}
		t.Steps = append(t.Steps, st)
	}
	b, _ := json.Marshal(t)
	return b
}

// rowJSON is a ledger row as the admin API shows it (api/admin.md).
type rowJSON struct {
	ID           string          `json:"id"`
	Time         time.Time       `json:"time"`
	Key          string          `json:"key"`
	Team         string          `json:"team"`
	Endpoint     string          `json:"endpoint"`
	Route        string          `json:"route"`
	Rule         string          `json:"rule"`
	Targets      []string        `json:"targets"`
	Attempts     int             `json:"attempts"`
	Fallbacks    int             `json:"fallbacks"`
	Provider     string          `json:"provider"`
	Model        string          `json:"model"`
	Status       int             `json:"status"`
	Code         string          `json:"code"`
	TokensIn     int64           `json:"tokens_in"`
	TokensOut    int64           `json:"tokens_out"`
	TokensCached int64           `json:"tokens_cached"`
	CostUSD      float64         `json:"cost_usd"`
	LatencyMS    float64         `json:"latency_ms"`
	TTFTMS       float64         `json:"ttft_ms"`
	OverheadMS   float64         `json:"overhead_ms"`
	CacheHit     bool            `json:"cache_hit"`
	RuleInput    json.RawMessage `json:"rule_input,omitempty"`
	Trace        json.RawMessage `json:"trace,omitempty"`
}

func toRowJSON(r ledger.Row) rowJSON {
	out := rowJSON{ID: r.ID, Time: r.Time.UTC(), Key: r.Key, Team: r.Team, Endpoint: r.Endpoint, Route: r.Route, Rule: r.Rule,
		Targets: r.Targets, Attempts: r.Attempts, Fallbacks: r.Fallbacks, Provider: r.Provider, Model: r.Model,
		Status: r.Status, Code: r.Code, TokensIn: r.TokensIn, TokensOut: r.TokensOut, TokensCached: r.TokensCached,
		CostUSD: r.CostUSD, LatencyMS: msFloat(r.Latency), TTFTMS: msFloat(r.TTFT), OverheadMS: msFloat(r.Overhead),
		CacheHit: r.CacheHit}
	if out.Targets == nil {
		out.Targets = []string{}
	}
	if json.Valid(r.RuleInput) {
		out.RuleInput = slices.Clip(r.RuleInput)
	}
	if json.Valid(r.Trace) {
		out.Trace = r.Trace
	}
	return out
}
