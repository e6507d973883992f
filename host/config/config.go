// Package config loads and checks the router's YAML configuration.
//
// Loading is strict: unknown keys, bad durations, dangling references and missing files are
// refused with the file, the key and the reason. `${VAR}` and `${VAR:-default}` are expanded
// in every scalar value before decoding; an unset variable without a default is an error.
// Relative paths resolve against the folder of the config file.
package config

import (
	"encoding/json"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// File is the whole configuration. Field names are part of the public contract
// (api/config/README.md documents them; api/config/config.schema.json is their schema).
type File struct {
	Listen     string     `yaml:"listen"`
	Admin      Admin      `yaml:"admin"`
	Providers  []Provider `yaml:"providers"`
	Models     []Model    `yaml:"models"`
	Routes     []Route    `yaml:"routes"`
	Rules      []Rule     `yaml:"rules"`
	Retry      Retry      `yaml:"retry"`
	Timeouts   Timeouts   `yaml:"timeouts"`
	Validation Validation `yaml:"validation"`
	Limits     Limits     `yaml:"limits"`
	Keys       []Key      `yaml:"keys"`
	Plugins    Plugins    `yaml:"plugins"`
	Circuit    Circuit    `yaml:"circuit"`
	Log        Log        `yaml:"log"`
	Ledger     Ledger     `yaml:"ledger"`
	State      State      `yaml:"state"`

	// Path is the absolute path of the file this was loaded from.
	Path string `yaml:"-"`

	// caches are the routes' caches by route name (nil when no route has one), for
	// RouteCache on the request path.
	caches map[string]*RouteCache
}

// Admin guards the admin endpoints (POST /admin/reload).
type Admin struct {
	// Key is the admin bearer key; empty disables the admin endpoints.
	Key string `yaml:"key"`
}

// Provider is one provider plugin instance.
type Provider struct {
	Name string `yaml:"name"`
	// Plugin is the path of the plugin binary.
	Plugin string `yaml:"plugin"`
	// SHA256, when set, must match the binary.
	SHA256 string `yaml:"sha256"`
	// Enabled defaults to true; a disabled provider is not started and its models are hidden.
	Enabled *bool `yaml:"enabled"`
	// Settings is handed to the plugin as JSON.
	Settings map[string]any `yaml:"settings"`
	// Secrets are handed to the plugin and never logged.
	Secrets map[string]string `yaml:"secrets"`
	// Env names the router's environment variables the plugin process inherits, beyond the
	// minimal set every plugin gets (PATH, HOME, TMPDIR and go-plugin's own).
	Env []string `yaml:"env"`
}

// IsEnabled reports whether the provider should run.
func (p Provider) IsEnabled() bool { return p.Enabled == nil || *p.Enabled }

// SettingsJSON returns the settings as a JSON object.
func (p Provider) SettingsJSON() json.RawMessage {
	if len(p.Settings) == 0 {
		return json.RawMessage("{}")
	}
	b, err := json.Marshal(p.Settings)
	if err != nil { // checked at load; cannot happen afterwards
		return json.RawMessage("{}")
	}
	return b
}

// Model is one catalogue entry: a model of a provider that clients and rules may name.
type Model struct {
	// Name is the public catalogue name (unique).
	Name     string `yaml:"name"`
	Provider string `yaml:"provider"`
	// Model is the upstream model name; defaults to Name.
	Model         string   `yaml:"model"`
	ContextWindow int64    `yaml:"context_window"`
	USDPerMTokIn  float64  `yaml:"usd_per_mtok_in"`
	USDPerMTokOut float64  `yaml:"usd_per_mtok_out"`
	Capabilities  []string `yaml:"capabilities"`
}

// Route is a public model name with its default ordered targets (catalogue names).
type Route struct {
	Name    string   `yaml:"name"`
	Targets []string `yaml:"targets"`
	// Cache, when set, answers a request identical to an earlier one from the response
	// cache (in memory, or in Redis with state.url).
	Cache *RouteCache `yaml:"cache"`
}

// RouteCache is a route's response cache.
type RouteCache struct {
	// TTL is how long an answer is served from the cache.
	TTL Duration `yaml:"ttl"`
	// MaxBytes is the largest answer (body, or whole stream) the cache keeps; larger ones
	// are served but not kept (default 1 MiB).
	MaxBytes int `yaml:"max_bytes"`
}

// RouteCache is the cache of the route named name; nil when it has none (or no route
// is called so).
func (f *File) RouteCache(name string) *RouteCache { return f.caches[name] }

// DefaultCacheMaxBytes is RouteCache.MaxBytes when the config leaves it out.
const DefaultCacheMaxBytes = 1 << 20

// Rule is one Wasm routing rule.
type Rule struct {
	Name   string `yaml:"name"`
	Module string `yaml:"module"`
	// Config is handed to the rule's sy_init as JSON.
	Config   map[string]any `yaml:"config"`
	Mode     string         `yaml:"mode"`     // active (default) | shadow
	OnError  string         `yaml:"on_error"` // skip (default) | fail
	Deadline Duration       `yaml:"deadline"` // default 5ms
	Memory   int            `yaml:"memory"`   // MiB, default 16
	Pool     int            `yaml:"pool"`     // instances, default 4
	// Headers lists the request headers the rule may see.
	Headers []string `yaml:"headers"`
	// Content, when set, lets the rule see the prompt (request.content): the last user
	// message and the system prompt cut to Content.MaxBytes, and facts about them. Off by
	// default: a rule sees no prompt text unless its entry asks.
	Content *RuleContent `yaml:"content"`
	// Golden is a golden case file or folder the module must pass before it is swapped in.
	Golden string `yaml:"golden"`
}

// MaxContentBytes is the largest rules[].content.max_bytes: what the rule engine accepts
// (abi.MaxContentBytes; this package imports nothing of the host).
const MaxContentBytes = 64 << 10

// RuleContent is a rule's content: {max_bytes: N}.
type RuleContent struct {
	// MaxBytes is how much of each text the rule sees, 1..MaxContentBytes (required).
	MaxBytes int `yaml:"max_bytes"`
}

// ContentBytes returns the rule's content.max_bytes, 0 for a rule without content.
func (r Rule) ContentBytes() int {
	if r.Content == nil {
		return 0
	}
	return r.Content.MaxBytes
}

// UnmarshalYAML decodes content: {max_bytes: N} strictly and checks N, so that a bad
// value is reported with its line and key path like a bad duration. Problems come back
// as a *yaml.TypeError, which yaml.v3 collects while decoding the rest of the file (an
// unknown key elsewhere is still found); an unknown key here reads as the decoder's own
// "field x not found" message, which the unknown-key pass reports like any other.
func (c *RuleContent) UnmarshalYAML(n *yaml.Node) error {
	bad := func(line int, format string, args ...any) error {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: ", line) + fmt.Sprintf(format, args...)}}
	}
	if n.Kind != yaml.MappingNode {
		return bad(n.Line, "content: want {max_bytes: N} with N in 1..%d", MaxContentBytes)
	}
	var errs []string
	var value *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i]; k.Value {
		case "max_bytes":
			value = n.Content[i+1]
		default:
			errs = append(errs, fmt.Sprintf("line %d: field %s not found in type config.RuleContent", k.Line, k.Value))
		}
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	if value == nil {
		return bad(n.Line, "content: max_bytes is required, 1..%d", MaxContentBytes)
	}
	type plain RuleContent // without this method
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	if p.MaxBytes < 1 || p.MaxBytes > MaxContentBytes {
		return bad(value.Line, "%d is out of range: want 1..%d (leave content out for a rule that needs no prompt text)", p.MaxBytes, MaxContentBytes)
	}
	*c = RuleContent(p)
	return nil
}

// ConfigJSON returns the rule's config as JSON.
func (r Rule) ConfigJSON() json.RawMessage {
	if len(r.Config) == 0 {
		return json.RawMessage("{}")
	}
	b, err := json.Marshal(r.Config)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

// Retry says how the pipeline retries one target before falling back.
type Retry struct {
	// MaxAttempts is the number of calls to one target, retries included (default 3).
	MaxAttempts int      `yaml:"max_attempts"`
	BackoffBase Duration `yaml:"backoff_base"` // default 100ms
	BackoffMax  Duration `yaml:"backoff_max"`  // default 2s
}

// Timeouts bound a request and its attempts.
type Timeouts struct {
	Total Duration `yaml:"total"` // whole request, default 120s
	// Attempt bounds one upstream call's wait for its first byte (for a whole answer, the
	// whole call), default 60s; it does not bound a healthy stream, stream_idle does.
	Attempt    Duration `yaml:"attempt"`
	StreamIdle Duration `yaml:"stream_idle"` // longest gap between stream chunks, default 30s
	// ClientWrite bounds one write to the client; a client that stops reading for longer
	// ends its request (default 10s).
	ClientWrite Duration `yaml:"client_write"`
}

// Circuit tunes the breaker kept per catalogue model.
type Circuit struct {
	// FailureThreshold is the number of failures in a row that opens a model's circuit.
	FailureThreshold int `yaml:"failure_threshold"` // default 5
	// CoolDown is how long an open circuit is skipped before a probe goes through.
	CoolDown Duration `yaml:"cool_down"` // default 30s
	// HalfOpenProbes is how many requests may probe a half-open circuit at once.
	HalfOpenProbes int `yaml:"half_open_probes"` // default 1
}

// Validation configures the checks on an answer.
type Validation struct {
	// NonEmpty refuses an empty answer without tool calls (default true).
	NonEmpty *bool `yaml:"non_empty"`
	// TrimWhitespace trims surrounding whitespace of a whole answer.
	TrimWhitespace bool `yaml:"trim_whitespace"`
	// MaxChars cuts a whole answer longer than this (0 = no limit).
	MaxChars int `yaml:"max_chars"`
	// StreamHoldback is how many characters of a stream are held back and checked before
	// the first byte goes to the client (0: commit on the first content).
	StreamHoldback int `yaml:"stream_holdback"`
}

// Limits bound what the router accepts.
type Limits struct {
	MaxBodyBytes int64 `yaml:"max_body_bytes"` // default 8 MiB
	MaxInflight  int   `yaml:"max_inflight"`   // default 1024
	// MaxQueue is how many chat requests may wait for a slot when all max_inflight are
	// taken (default max_inflight; 0 sheds as soon as every slot is taken).
	MaxQueue *int `yaml:"max_queue"`
	// QueueTimeout is the longest a request waits in the queue before it is shed (default 2s).
	QueueTimeout Duration `yaml:"queue_timeout"`
	// ReadTimeout bounds reading a request, headers and body (default 30s); it does not
	// bound the response, so long streams are not cut.
	ReadTimeout Duration `yaml:"read_timeout"`
	// ShutdownGrace is how long requests and streams in flight may run after SIGTERM or
	// SIGINT before they are ended (default 30s).
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// ShutdownDelay is how long the router keeps serving after SIGTERM with /readyz at 503,
	// so load balancers stop sending before the listener closes (default 0).
	ShutdownDelay Delay `yaml:"shutdown_delay"`
}

// Log configures the router's own log lines.
type Log struct {
	// Access is on (a line per request, default), off, or errors (only failed requests).
	Access string `yaml:"access"`
}

// Key is a client key. Requests must carry one of them when any is configured (or when
// the ledger holds virtual keys).
type Key struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
	// Team groups keys in usage queries and rules' input.
	Team string `yaml:"team"`
	// Models the key may use; empty means all.
	Models []string `yaml:"models"`
	// Limits are the key's rate limits (none by default).
	Limits KeyLimits `yaml:"limits" json:"limits"`
	// Budget is the key's spend limit (none by default).
	Budget *KeyBudget `yaml:"budget" json:"budget,omitempty"`
}

// KeyLimits are a key's rate limits, per minute: requests (RPM) and tokens (TPM); 0 is no
// limit. Models holds tighter limits for some models.
type KeyLimits struct {
	RPM    int64                `yaml:"rpm" json:"rpm,omitempty"`
	TPM    int64                `yaml:"tpm" json:"tpm,omitempty"`
	Models map[string]RateLimit `yaml:"models" json:"models,omitempty"`
}

// RateLimit is one model's limits within a key's.
type RateLimit struct {
	RPM int64 `yaml:"rpm" json:"rpm,omitempty"`
	TPM int64 `yaml:"tpm" json:"tpm,omitempty"`
}

// KeyBudget is a key's spend limit in USD per period: day, week, month (UTC calendar
// periods; weeks start on Monday) or total.
type KeyBudget struct {
	USD    float64 `yaml:"usd" json:"usd"`
	Period string  `yaml:"period" json:"period"`
}

// Budget periods.
var BudgetPeriods = []string{"day", "week", "month", "total"}

// Ledger records every request the router serves (api/admin.md reads it back).
type Ledger struct {
	// URL is the store: sqlite:PATH (a file, relative to the config's folder) or
	// postgres://...; empty: no ledger (no usage, no request history, no virtual keys).
	URL string `yaml:"url"`
	// Retention is how long rows are kept (default 720h, 30 days).
	Retention Duration `yaml:"retention"`
	// RecordInputs says which requests keep their exact rule input and decision trace,
	// for replay: none (default), all, or sample:N (one request in N).
	RecordInputs string `yaml:"record_inputs"`
	// Queue bounds the rows waiting to be written (default 65536); beyond it rows are
	// dropped and counted in switchyard_ledger_dropped_total.
	Queue int `yaml:"queue"`
	// Batch is the most rows one write takes (default 512).
	Batch int `yaml:"batch"`
	// Interval is the longest a row waits for its batch (default 1s): what a SIGKILL
	// can lose.
	Interval Duration `yaml:"interval"`

	// SampleEvery is RecordInputs as a number: 0 none, 1 all, N one in N (set by Load).
	SampleEvery int `yaml:"-"`
}

// State is where replicas share rate limits, budget spend, circuits and the cache.
type State struct {
	// URL is a Redis server (redis://[user:password@]host:port/db, or rediss:// for TLS);
	// empty: each replica keeps its own state.
	URL string `yaml:"url"`
	// OnError is what limits and budgets do while Redis is unreachable: open (default)
	// goes on with each replica's local counters; closed refuses requests of limited keys
	// with 503 state_unavailable.
	OnError string `yaml:"on_error"`
}

// Plugins tunes plugin supervision.
type Plugins struct {
	StartTimeout   Duration `yaml:"start_timeout"`   // default 10s
	HealthInterval Duration `yaml:"health_interval"` // default 5s
	HealthTimeout  Duration `yaml:"health_timeout"`  // default 2s
}

// Duration is a positive time.Duration written as "250ms", "5s", "1m". Zero and negative
// values are refused: a zero timeout, deadline or back-off is never what an author means
// (leave the key out for its default).
type Duration time.Duration

// D returns the duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses a Go duration string such as "250ms".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n)
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("line %d: duration %q must be positive (leave the key out for its default)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration back as a string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Delay is a duration that may be zero ("do not wait"), such as limits.shutdown_delay;
// negative values are refused.
type Delay time.Duration

// D returns the delay.
func (d Delay) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML parses a Go duration string such as "5s" or "0s".
func (d *Delay) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("line %d: negative duration %q", n.Line, n.Value)
	}
	*d = Delay(v)
	return nil
}

// MarshalText writes the delay back as a string.
func (d Delay) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func parseDuration(n *yaml.Node) (time.Duration, error) {
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("line %d: bad duration %q (use a number with a unit, like 250ms or 5s)", n.Line, n.Value)
	}
	return v, nil
}
