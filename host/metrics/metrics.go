// Package metrics defines Switchyard's Prometheus metrics (namespace "switchyard").
//
// Metrics are registered on an injected prometheus.Registerer, never the global one. Label
// values come only from the configuration or from fixed lists; anything else becomes
// "_unknown", so a client cannot grow the series count. Every series the configuration
// implies is created at zero by Prime, so dashboards see it before the first event.
package metrics

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// Unknown is the label value for anything the configuration does not name.
const Unknown = "_unknown"

// Rule evaluation outcomes.
var RuleOutcomes = []string{"decided", "no_opinion", "rejected", "error", "timeout"}

// CacheResults are the values of switchyard_cache_requests_total's result label.
var CacheResults = []string{"hit", "miss", "bypass"}

// Label values that are not provider error kinds. The lists below and Prime are built from
// these, and code that counts should use them too: one spelling for every label value.
const (
	// OutcomeOK is a call that brought back an answer validation accepted.
	OutcomeOK = "ok"
	// OutcomePluginDown is a call that found its plugin down, or whose plugin or transport
	// failed (no answer, and nothing the upstream said).
	OutcomePluginDown = "plugin_down"
	// OutcomeInvalidAnswer is an answer that came back and validation refused.
	OutcomeInvalidAnswer = "invalid_answer"
	// ReasonCircuitOpen is a target left because its circuit was open.
	ReasonCircuitOpen = "circuit_open"
	// RetryValidation is a retry a rule's sy_validate asked for (verdict "retry").
	RetryValidation = "validation"
)

// The built-in answer checks, the validator label of switchyard_validation_failures_total.
const (
	ValidatorNonEmpty      = "non_empty"
	ValidatorJSON          = "json"
	ValidatorToolArguments = "tool_arguments"
	ValidatorContentFilter = "content_filter"
)

// kinds are the provider error kinds as label values, from the SDK's own list, so a kind
// added there is counted and primed here without a second list to forget.
var kinds = func() []string {
	var out []string
	for _, k := range provider.Kinds() {
		out = append(out, string(k))
	}
	return out
}()

// ProviderOutcomes are the outcomes of one upstream call: "ok", every provider error kind,
// "plugin_down" and "invalid_answer".
var ProviderOutcomes = append(append([]string{OutcomeOK}, kinds...), OutcomePluginDown, OutcomeInvalidAnswer)

// FallbackReasons are why the pipeline left a target: a provider outcome other than ok, or
// an open circuit.
var FallbackReasons = append(append([]string{}, ProviderOutcomes[1:]...), ReasonCircuitOpen)

// RetryReasons are why the pipeline called the same target again: a kind that is retryable
// by default (provider.Kind.DefaultRetryable), or a rule's "retry" verdict.
var RetryReasons = func() []string {
	var out []string
	for _, k := range provider.Kinds() {
		if k.DefaultRetryable() {
			out = append(out, string(k))
		}
	}
	return append(out, RetryValidation)
}()

// Validators are the built-in answer checks; a rule's sy_validate verdicts are counted under
// the rule's name.
var Validators = []string{ValidatorNonEmpty, ValidatorJSON, ValidatorToolArguments, ValidatorContentFilter}

// RequestStatuses are the HTTP statuses the router answers with.
var RequestStatuses = []int{200, 400, 401, 403, 404, 408, 413, 429, 499, 500, 502, 503, 504}

// Metrics holds every collector. Its methods are safe for concurrent use.
type Metrics struct {
	Requests          *prometheus.CounterVec
	RequestDuration   *prometheus.HistogramVec
	ActiveRequests    prometheus.Gauge
	Overhead          prometheus.Histogram
	RuleEvaluations   *prometheus.CounterVec
	RuleDuration      *prometheus.HistogramVec
	ProviderRequests  *prometheus.CounterVec
	ProviderDuration  *prometheus.HistogramVec
	ProviderTTFT      *prometheus.HistogramVec
	ProviderTokens    *prometheus.CounterVec
	ProviderCost      *prometheus.CounterVec
	PluginUp          *prometheus.GaugeVec
	PluginHealthy     *prometheus.GaugeVec
	RuleQuarantined   *prometheus.GaugeVec
	PluginRestarts    *prometheus.CounterVec
	Fallbacks         *prometheus.CounterVec
	Retries           *prometheus.CounterVec
	RuleShadowAgree   *prometheus.CounterVec
	ValidationFailure *prometheus.CounterVec
	RuleReloads       *prometheus.CounterVec
	CircuitOpen       *prometheus.GaugeVec

	// AdmissionQueue is the number of chat requests waiting for a slot.
	AdmissionQueue prometheus.Gauge
	// AdmissionShedTotal counts requests shed by admission, by priority (1..10).
	AdmissionShedTotal *prometheus.CounterVec
	shedByPriority     [11]prometheus.Counter

	// The ledger (issue 12): rows written, rows dropped because its queue was full, and
	// batches the store refused (each offered again later).
	LedgerRows        prometheus.Counter
	LedgerDropped     prometheus.Counter
	LedgerWriteErrors prometheus.Counter
	// Per key (label values are key names the operator chose, in the config or through
	// POST /admin/keys): spend, budget and what is left of it, and refusals by limit.
	KeySpend           *prometheus.CounterVec
	KeyBudget          *prometheus.GaugeVec
	KeyBudgetRemaining *prometheus.GaugeVec
	KeyLimited         *prometheus.CounterVec
	// StateUp is 1 while the shared state (state.url) answers, 0 while the router serves
	// on local state instead; absent without state.url.
	StateUp prometheus.Gauge
	// CacheRequests counts requests to routes with a response cache by result
	// (CacheResults); CacheStored counts the answers the cache kept.
	CacheRequests *prometheus.CounterVec
	CacheStored   *prometheus.CounterVec

	known atomic.Pointer[knownLabels]
}

// KeyLimits are the limit label values of switchyard_key_limited_total.
var KeyLimits = []string{"rpm", "tpm", "budget"}

type knownLabels struct {
	models    map[string]*ModelSeries
	providers map[string]bool
	rules     map[string]bool
}

// ModelSeries are a public model's per-request series, looked up once per configuration
// rather than per request (WithLabelValues hashes its labels on every call).
type ModelSeries struct {
	m        *Metrics
	model    string
	byStatus map[int]prometheus.Counter
	duration prometheus.Observer
}

// Name is the model's label value: the model, or Unknown.
func (s *ModelSeries) Name() string { return s.model }

// Done counts a request answered with status after d.
func (s *ModelSeries) Done(status int, d time.Duration) {
	c, ok := s.byStatus[status]
	if !ok {
		c = s.m.Requests.WithLabelValues(s.model, strconv.Itoa(status))
	}
	c.Inc()
	s.duration.Observe(d.Seconds())
}

func (m *Metrics) modelSeries(model string) *ModelSeries {
	s := &ModelSeries{m: m, model: model, byStatus: make(map[int]prometheus.Counter, len(RequestStatuses)),
		duration: m.RequestDuration.WithLabelValues(model)}
	for _, st := range RequestStatuses {
		s.byStatus[st] = m.Requests.WithLabelValues(model, strconv.Itoa(st))
	}
	return s
}

// TargetSeries are one (provider, catalogue model)'s per-call series, looked up once: a
// pipeline keeps them per target.
type TargetSeries struct {
	outcomes         map[string]prometheus.Counter
	provider, model  string
	m                *Metrics
	Duration, TTFT   prometheus.Observer
	PromptTokens     prometheus.Counter
	CompletionTokens prometheus.Counter
	Cost             prometheus.Counter
}

// Target returns the series of a (provider, catalogue model) pair.
func (m *Metrics) Target(provider, model string) *TargetSeries {
	t := &TargetSeries{outcomes: make(map[string]prometheus.Counter, len(ProviderOutcomes)), provider: provider, model: model, m: m,
		Duration: m.ProviderDuration.WithLabelValues(provider, model), TTFT: m.ProviderTTFT.WithLabelValues(provider, model),
		PromptTokens:     m.ProviderTokens.WithLabelValues(provider, model, "prompt"),
		CompletionTokens: m.ProviderTokens.WithLabelValues(provider, model, "completion"),
		Cost:             m.ProviderCost.WithLabelValues(provider, model)}
	for _, o := range ProviderOutcomes {
		t.outcomes[o] = m.ProviderRequests.WithLabelValues(provider, model, o)
	}
	return t
}

// Outcome counts one upstream call's outcome.
func (t *TargetSeries) Outcome(outcome string) {
	c, ok := t.outcomes[outcome]
	if !ok {
		c = t.m.ProviderRequests.WithLabelValues(t.provider, t.model, outcome)
	}
	c.Inc()
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	const ns = "switchyard"
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "requests_total",
			Help: "Client requests by requested model and HTTP status."}, []string{"model", "status"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "request_duration_seconds",
			Help: "Client request duration, first byte in to last byte out.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"model"}),
		ActiveRequests: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "active_requests",
			Help: "Client requests being served."}),
		Overhead: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "overhead_seconds",
			Help: "Time a request spent in Switchyard itself, upstream calls and backoff excluded.", Buckets: prometheus.ExponentialBuckets(0.00005, 2, 14)}),
		RuleEvaluations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rule_evaluations_total",
			Help: "Rule evaluations by rule and outcome."}, []string{"rule", "outcome"}),
		RuleDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "rule_evaluation_duration_seconds",
			Help: "Duration of one rule evaluation.", Buckets: prometheus.ExponentialBuckets(0.000001, 2.5, 12)}, []string{"rule"}),
		ProviderRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "provider_requests_total",
			Help: "Upstream calls by provider, catalogue model and outcome."}, []string{"provider", "model", "outcome"}),
		ProviderDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "provider_request_duration_seconds",
			Help: "Duration of one upstream call through a plugin.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"provider", "model"}),
		ProviderTTFT: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "provider_time_to_first_token_seconds",
			Help: "Time from the start of a streamed upstream call to its first chunk.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"provider", "model"}),
		ProviderTokens: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "provider_tokens_total",
			Help: "Tokens the upstreams reported, by direction (prompt, completion)."}, []string{"provider", "model", "direction"}),
		ProviderCost: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "provider_cost_usd_total",
			Help: "Cost in US dollars from the catalogue's prices and the reported usage."}, []string{"provider", "model"}),
		PluginUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "plugin_up",
			Help: "1 while the provider plugin process runs, has completed its handshake and is configured; 0 while it is down or restarting. Says nothing of its upstream (see switchyard_plugin_healthy)."}, []string{"plugin"}),
		PluginHealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "plugin_healthy",
			Help: "1 when the provider plugin's last health check answered ok (its upstream probe included, where configured); 0 when it answered not ok or the plugin is down."}, []string{"plugin"}),
		RuleQuarantined: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "rule_quarantined",
			Help: "1 while a rule is quarantined after repeated failures (skipped until a reload or POST /admin/rules/{name}/reset), else 0."}, []string{"rule"}),
		PluginRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "plugin_restarts_total",
			Help: "Provider plugin restarts."}, []string{"plugin"}),
		Fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "fallbacks_total",
			Help: "Times the pipeline left a target for the next one, by the provider left and why."}, []string{"provider", "reason"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "retries_total",
			Help: "Retries of the same target, by provider and why."}, []string{"provider", "reason"}),
		RuleShadowAgree: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rule_shadow_agreement_total",
			Help: "Shadow rule decisions by whether they agreed with the active chain."}, []string{"rule", "agreed"}),
		ValidationFailure: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "validation_failures_total",
			Help: "Answers refused by validation, by validator and provider."}, []string{"validator", "provider"}),
		CircuitOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "circuit_open",
			Help: "1 while a model's circuit is open or probing (half-open), 0 when closed."}, []string{"provider", "model"}),
		RuleReloads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rule_reloads_total",
			Help: "Rule (re)loads by result: ok, or refused (the previous version kept serving)."}, []string{"rule", "result"}),
	}
	reg.MustRegister(m.Requests, m.RequestDuration, m.ActiveRequests, m.Overhead,
		m.RuleEvaluations, m.RuleDuration, m.ProviderRequests, m.ProviderDuration,
		m.ProviderTTFT, m.ProviderTokens, m.ProviderCost, m.PluginUp, m.PluginHealthy, m.RuleQuarantined, m.PluginRestarts, m.Fallbacks, m.Retries, m.RuleShadowAgree, m.ValidationFailure, m.RuleReloads, m.CircuitOpen)
	m.AdmissionQueue = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "admission_queue_depth",
		Help: "Chat requests waiting for a slot (limits.max_inflight) in the admission queue."})
	m.AdmissionShedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "admission_shed_total",
		Help: "Chat requests shed by admission (429 shed), by priority."}, []string{"priority"})
	for p := 1; p <= 10; p++ {
		m.shedByPriority[p] = m.AdmissionShedTotal.WithLabelValues(strconv.Itoa(p))
	}
	reg.MustRegister(m.AdmissionQueue, m.AdmissionShedTotal)
	m.LedgerRows = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "ledger_rows_total",
		Help: "Request rows written to the ledger."})
	m.LedgerDropped = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "ledger_dropped_total",
		Help: "Request rows dropped because the ledger's queue (ledger.queue) was full."})
	m.LedgerWriteErrors = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "ledger_write_errors_total",
		Help: "Ledger batches the store refused; each is offered again until it is written."})
	m.KeySpend = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "key_spend_usd_total",
		Help: "Spend in US dollars by key, as counted against budgets (this replica's share)."}, []string{"key"})
	m.KeyBudget = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "key_budget_usd",
		Help: "A key's budget for its period, in US dollars."}, []string{"key"})
	m.KeyBudgetRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "key_budget_remaining_usd",
		Help: "What is left of a key's budget in its current period, as last seen by this replica."}, []string{"key"})
	m.KeyLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "key_limited_total",
		Help: "Requests refused with 429 by a key's limit: rpm, tpm or budget."}, []string{"key", "limit"})
	m.StateUp = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "state_up",
		Help: "1 while the shared state (state.url) answers; 0 while limits, budgets, circuits and the cache run on this replica's local state."})
	m.CacheRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "cache_requests_total",
		Help: "Requests to routes with a response cache: hit (answered from it), miss, bypass (x-switchyard-cache: off)."}, []string{"route", "result"})
	m.CacheStored = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "cache_stored_total",
		Help: "Answers the response cache kept (successful, within the route's cache.max_bytes)."}, []string{"route"})
	reg.MustRegister(m.LedgerRows, m.LedgerDropped, m.LedgerWriteErrors, m.KeySpend, m.KeyBudget, m.KeyBudgetRemaining,
		m.KeyLimited, m.StateUp, m.CacheRequests, m.CacheStored)
	return m
}

// PrimeKey creates a key's series at zero (config keys at load, virtual keys as they
// appear); budget is its budget in USD, or negative for none.
func (m *Metrics) PrimeKey(key string, budget float64) {
	m.KeySpend.WithLabelValues(key)
	for _, l := range KeyLimits {
		m.KeyLimited.WithLabelValues(key, l)
	}
	if budget >= 0 {
		m.KeyBudget.WithLabelValues(key).Set(budget)
		m.KeyBudgetRemaining.WithLabelValues(key).Set(budget) // until the first request says more
	}
}

// AdmissionQueueDepth records the admission queue's length (admission.Observer).
func (m *Metrics) AdmissionQueueDepth(n int) { m.AdmissionQueue.Set(float64(n)) }

// AdmissionShed counts a request shed by admission (admission.Observer). priority is 1..10;
// anything else is counted under 1.
func (m *Metrics) AdmissionShed(priority int) {
	if priority < 1 || priority > 10 {
		priority = 1
	}
	m.shedByPriority[priority].Inc()
}

// Labels is what the configuration names: the series Prime creates.
type Labels struct {
	// Models are the public model names (routes, catalogue models, "auto").
	Models []string
	// ProviderModels are the (provider, catalogue model) pairs.
	ProviderModels [][2]string
	Plugins        []string
	Rules          []string
	ShadowRules    []string
	// CachedRoutes are the routes with a response cache.
	CachedRoutes []string
	// Keys are the config's key names, and Budgets their budgets in USD (keys without
	// one are not in it). Virtual keys are primed with PrimeKey as they appear.
	Keys    []string
	Budgets map[string]float64
}

// Prime creates every series the configuration implies at zero and records which label
// values are known. Call it on each config load, before traffic.
func (m *Metrics) Prime(l Labels) {
	k := knownLabels{models: map[string]*ModelSeries{}, providers: map[string]bool{}, rules: map[string]bool{}}
	for _, model := range append(l.Models, Unknown) {
		k.models[model] = m.modelSeries(model)
	}
	for _, pm := range l.ProviderModels {
		k.providers[pm[0]] = true
		for _, o := range ProviderOutcomes {
			m.ProviderRequests.WithLabelValues(pm[0], pm[1], o)
		}
		m.ProviderDuration.WithLabelValues(pm[0], pm[1])
		m.ProviderTTFT.WithLabelValues(pm[0], pm[1])
		m.ProviderTokens.WithLabelValues(pm[0], pm[1], "prompt")
		m.ProviderTokens.WithLabelValues(pm[0], pm[1], "completion")
		m.ProviderCost.WithLabelValues(pm[0], pm[1])
		for _, r := range FallbackReasons {
			m.Fallbacks.WithLabelValues(pm[0], r)
		}
		for _, r := range RetryReasons {
			m.Retries.WithLabelValues(pm[0], r)
		}
		for _, v := range append(append([]string{}, Validators...), l.Rules...) {
			m.ValidationFailure.WithLabelValues(v, pm[0])
		}
		m.CircuitOpen.WithLabelValues(pm[0], pm[1])
	}
	for _, r := range l.CachedRoutes {
		for _, res := range CacheResults {
			m.CacheRequests.WithLabelValues(r, res)
		}
		m.CacheStored.WithLabelValues(r)
	}
	for _, p := range l.Plugins {
		m.PluginUp.WithLabelValues(p)
		m.PluginHealthy.WithLabelValues(p)
		m.PluginRestarts.WithLabelValues(p)
	}
	for _, r := range l.Rules {
		k.rules[r] = true
		for _, o := range RuleOutcomes {
			m.RuleEvaluations.WithLabelValues(r, o)
		}
		m.RuleDuration.WithLabelValues(r)
		m.RuleQuarantined.WithLabelValues(r)
		m.RuleReloads.WithLabelValues(r, "ok")
		m.RuleReloads.WithLabelValues(r, "refused")
	}
	for _, r := range l.ShadowRules {
		m.RuleShadowAgree.WithLabelValues(r, "true")
		m.RuleShadowAgree.WithLabelValues(r, "false")
	}
	for _, k := range l.Keys {
		b, ok := l.Budgets[k]
		if !ok {
			b = -1
		}
		m.PrimeKey(k, b)
	}

	m.known.Store(&k)
}

// Model returns model if the configuration names it, else Unknown.
func (m *Metrics) Model(model string) string { return m.Series(model).Name() }

// Series returns the per-request series of model, or of Unknown when the configuration does
// not name it.
func (m *Metrics) Series(model string) *ModelSeries {
	k := m.known.Load()
	if k != nil {
		if s := k.models[model]; s != nil {
			return s
		}
		if s := k.models[Unknown]; s != nil {
			return s
		}
	}
	return m.modelSeries(Unknown) // not primed yet
}

// RuleEvaluated records one rule evaluation (rules.Observer).
func (m *Metrics) RuleEvaluated(rule, outcome string, d time.Duration) {
	m.RuleEvaluations.WithLabelValues(rule, outcome).Inc()
	m.RuleDuration.WithLabelValues(rule).Observe(d.Seconds())
}

// PluginUpChanged records a plugin going up or down (providers.Observer).
func (m *Metrics) PluginUpChanged(plugin string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.PluginUp.WithLabelValues(plugin).Set(v)
}

// PluginRestarted counts a plugin restart (providers.Observer).
func (m *Metrics) PluginRestarted(plugin string) { m.PluginRestarts.WithLabelValues(plugin).Inc() }

// PluginHealthChanged records what a plugin's health check said (providers.Observer).
func (m *Metrics) PluginHealthChanged(plugin string, healthy bool) {
	m.PluginHealthy.WithLabelValues(plugin).Set(boolGauge(healthy))
}

// RuleQuarantineChanged records a rule entering (true) or leaving quarantine.
func (m *Metrics) RuleQuarantineChanged(rule string, quarantined bool) {
	m.RuleQuarantined.WithLabelValues(rule).Set(boolGauge(quarantined))
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
