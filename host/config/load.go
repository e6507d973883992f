package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads, expands, decodes, defaults and checks the config at path.
// Every error names the file.
func Load(path string) (*File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	f, err := Parse(data, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	f.Path = abs
	if err := f.resolve(filepath.Dir(abs)); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return f, nil
}

// Parse decodes config text strictly, expands variables with lookup, applies defaults and
// checks what can be checked without the file system.
func Parse(data []byte, lookup func(string) (string, bool)) (*File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, cleanYAMLError(err)
	}
	if root.Kind == 0 {
		return nil, errors.New("empty file")
	}
	paths := keyPaths(&root)
	// Unknown keys are found on the text as written, so their line numbers are right even
	// when a value is a ${VAR} that only decodes after expansion.
	if err := unknownKeys(data); err != nil {
		return nil, withKeyPaths(err, paths)
	}
	if err := expandNode(&root, lookup); err != nil {
		return nil, err
	}
	var f File
	if err := root.Decode(&f); err != nil {
		return nil, withKeyPaths(cleanYAMLError(err), paths)
	}
	f.applyDefaults()
	if err := f.check(); err != nil {
		return nil, err
	}
	return &f, nil
}

func unknownKeys(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	err := dec.Decode(&f)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return nil // other problems are reported by the real decode
	}
	var unknown []string
	for _, e := range te.Errors {
		if notFoundRE.MatchString(e) {
			unknown = append(unknown, e)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	return cleanYAMLError(&yaml.TypeError{Errors: unknown})
}

var (
	notFoundRE = regexp.MustCompile(`field (\S+) not found in type \S+`)
	typeRE     = regexp.MustCompile(`cannot unmarshal !!(\w+) ` + "`([^`]*)`" + ` into (\S+)`)
)

// cleanYAMLError rewrites yaml.v3's messages into ones a config author understands.
func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		e = notFoundRE.ReplaceAllString(e, `unknown key "$1"`)
		e = typeRE.ReplaceAllString(e, `cannot use $1 "$2" as $3`)
		msgs = append(msgs, e)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// keyPaths maps each line of the document to the key path written on it
// ("limits.max_inflight", "providers[1].settings"), so a decoding error that yaml.v3 reports
// by line can name the key too. A line holding several entries (a flow mapping) maps to
// their common parent.
func keyPaths(root *yaml.Node) map[int]string {
	byLine := map[int][]string{}
	var walk func(n *yaml.Node, at string)
	walk = func(n *yaml.Node, at string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, at)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", at, i))
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if at != "" {
					p = at + "." + k.Value
				}
				byLine[k.Line] = append(byLine[k.Line], p)
				if v.Kind == yaml.ScalarNode && v.Line != k.Line {
					byLine[v.Line] = append(byLine[v.Line], p)
				}
				walk(v, p)
			}
		}
	}
	walk(root, "")
	paths := make(map[int]string, len(byLine))
	for line, ps := range byLine {
		// A parent written on the same line as its entries ("retry: {max_attempts: x}")
		// says less than they do: keep the deepest paths, then their common parent.
		deepest := ps[:0:0]
		for _, p := range ps {
			if !slices.ContainsFunc(ps, func(q string) bool { return q != p && commonPath(p, q) == p }) {
				deepest = append(deepest, p)
			}
		}
		common := deepest[0]
		for _, p := range deepest[1:] {
			common = commonPath(common, p)
		}
		if common != "" {
			paths[line] = common
		}
	}
	return paths
}

// commonPath is the longest key path both a and b lie under.
func commonPath(a, b string) string {
	for a != "" && !(b == a || strings.HasPrefix(b, a+".") || strings.HasPrefix(b, a+"[")) {
		i := strings.LastIndexAny(a, ".[")
		if i < 0 {
			return ""
		}
		a = a[:i]
	}
	return a
}

var lineRE = regexp.MustCompile(`line (\d+): `)

// withKeyPaths adds the key path after each "line N: " of err's message.
func withKeyPaths(err error, paths map[int]string) error {
	msg := lineRE.ReplaceAllStringFunc(err.Error(), func(m string) string {
		var line int
		if _, e := fmt.Sscanf(m, "line %d: ", &line); e == nil && paths[line] != "" {
			return m + paths[line] + ": "
		}
		return m
	})
	return errors.New(msg)
}

var varRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandNode replaces ${VAR} and ${VAR:-default} in every scalar value (not in keys).
func expandNode(n *yaml.Node, lookup func(string) (string, bool)) error {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			if err := expandNode(c, lookup); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if err := expandNode(n.Content[i], lookup); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		var missing string
		out := varRE.ReplaceAllStringFunc(n.Value, func(m string) string {
			sub := varRE.FindStringSubmatch(m)
			if v, ok := lookup(sub[1]); ok && v != "" {
				return v
			}
			if sub[2] != "" {
				return sub[3]
			}
			if v, ok := lookup(sub[1]); ok {
				return v
			}
			if missing == "" {
				missing = sub[1]
			}
			return ""
		})
		if missing != "" {
			return fmt.Errorf("line %d: environment variable %s is not set (write ${%s:-default} to make it optional)", n.Line, missing, missing)
		}
		n.Value = out
		if n.Style == 0 || n.Style == yaml.TaggedStyle {
			// Let the expanded text resolve again, so `enabled: ${X:-true}` decodes as a bool.
			n.Tag = ""
		}
	}
	return nil
}

func (f *File) applyDefaults() {
	if f.Listen == "" {
		f.Listen = "127.0.0.1:8080"
	}
	for i := range f.Models {
		if f.Models[i].Model == "" {
			f.Models[i].Model = f.Models[i].Name
		}
	}
	for i := range f.Rules {
		r := &f.Rules[i]
		if r.Mode == "" {
			r.Mode = "active"
		}
		if r.OnError == "" {
			r.OnError = "skip"
		}
		if r.Deadline == 0 {
			r.Deadline = Duration(5 * time.Millisecond)
		}
		if r.Memory == 0 {
			r.Memory = 16
		}
		if r.Pool == 0 {
			r.Pool = 4
		}
		for j, h := range r.Headers {
			r.Headers[j] = strings.ToLower(h)
		}
	}
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	if f.Retry.MaxAttempts == 0 {
		f.Retry.MaxAttempts = 3
	}
	def(&f.Retry.BackoffBase, 100*time.Millisecond)
	def(&f.Retry.BackoffMax, 2*time.Second)
	def(&f.Timeouts.Total, 120*time.Second)
	def(&f.Timeouts.Attempt, 60*time.Second)
	def(&f.Timeouts.StreamIdle, 30*time.Second)
	def(&f.Timeouts.ClientWrite, 10*time.Second)
	def(&f.Plugins.StartTimeout, 10*time.Second)
	def(&f.Plugins.HealthInterval, 5*time.Second)
	def(&f.Plugins.HealthTimeout, 2*time.Second)
	if f.Circuit.FailureThreshold == 0 {
		f.Circuit.FailureThreshold = 5
	}
	def(&f.Circuit.CoolDown, 30*time.Second)
	if f.Circuit.HalfOpenProbes == 0 {
		f.Circuit.HalfOpenProbes = 1
	}
	if f.Validation.NonEmpty == nil {
		t := true
		f.Validation.NonEmpty = &t
	}
	if f.Limits.MaxBodyBytes == 0 {
		f.Limits.MaxBodyBytes = 8 << 20
	}
	if f.Limits.MaxInflight == 0 {
		f.Limits.MaxInflight = 1024
	}
	if f.Limits.MaxQueue == nil {
		q := f.Limits.MaxInflight
		f.Limits.MaxQueue = &q
	}
	def(&f.Limits.QueueTimeout, 2*time.Second)
	def(&f.Limits.ReadTimeout, 30*time.Second)
	def(&f.Limits.ShutdownGrace, 30*time.Second)
	if f.Log.Access == "" {
		f.Log.Access = "on"
	}
	def(&f.Ledger.Retention, 720*time.Hour)
	def(&f.Ledger.Interval, time.Second)
	if f.Ledger.Queue == 0 {
		f.Ledger.Queue = 65536
	}
	if f.Ledger.Batch == 0 {
		f.Ledger.Batch = 512
	}
	if f.Ledger.RecordInputs == "" {
		f.Ledger.RecordInputs = "none"
	}
	if f.State.OnError == "" {
		f.State.OnError = "open"
	}
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// credentialHeaders are the request headers that carry a client's credentials: a rule may
// not ask to see them, so no key reaches a rule, its trace or a golden case.
var credentialHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "cookie": true, "x-api-key": true, "api-key": true,
}

// check validates references and values; it does not touch the file system.
func (f *File) check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	providers := map[string]*Provider{}
	for i := range f.Providers {
		p := &f.Providers[i]
		at := fmt.Sprintf("providers[%d]", i)
		switch {
		case !nameRE.MatchString(p.Name):
			bad("%s: name %q must be lowercase letters, digits, '.', '_' or '-'", at, p.Name)
		case providers[p.Name] != nil:
			bad("%s: duplicate provider name %q", at, p.Name)
		}
		if p.Plugin == "" {
			bad("%s (%s): plugin: the path of the plugin binary is required", at, p.Name)
		}
		if p.SHA256 != "" {
			if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != sha256.Size {
				bad("%s (%s): sha256: want 64 hex digits", at, p.Name)
			}
		}
		for _, e := range p.Env {
			if !envNameRE.MatchString(e) {
				bad("%s (%s): env: %q is not an environment variable name", at, p.Name, e)
			}
		}
		providers[p.Name] = p
	}
	if len(f.Providers) > 0 && len(f.EnabledProviders()) == 0 {
		bad("providers: every provider is disabled: at least one must be enabled to serve")
	} else if len(f.Providers) == 0 {
		bad("providers: at least one provider is required")
	}
	models := map[string]*Model{}
	for i := range f.Models {
		m := &f.Models[i]
		at := fmt.Sprintf("models[%d]", i)
		switch {
		case m.Name == "" || strings.ContainsAny(m.Name, " \t\n,"):
			bad("%s: name %q must be non-empty without spaces or commas", at, m.Name)
		case m.Name == "auto":
			bad("%s: name \"auto\" is reserved", at)
		case models[m.Name] != nil:
			bad("%s: duplicate model name %q", at, m.Name)
		}
		if providers[m.Provider] == nil {
			bad("%s (%s): provider %q is not configured", at, m.Name, m.Provider)
		}
		if m.ContextWindow < 0 || m.USDPerMTokIn < 0 || m.USDPerMTokOut < 0 {
			bad("%s (%s): context_window and prices must not be negative", at, m.Name)
		}
		models[m.Name] = m
	}
	routes := map[string]bool{}
	for i, r := range f.Routes {
		at := fmt.Sprintf("routes[%d]", i)
		switch {
		case r.Name == "" || strings.ContainsAny(r.Name, " \t\n,"):
			bad("%s: name %q must be non-empty without spaces or commas", at, r.Name)
		case r.Name == "auto":
			bad("%s: name \"auto\" is reserved", at)
		case routes[r.Name] || models[r.Name] != nil:
			bad("%s: name %q is already a route or a catalogue model", at, r.Name)
		}
		routes[r.Name] = true
		if len(r.Targets) == 0 {
			bad("%s (%s): targets: at least one catalogue model is required", at, r.Name)
		}
		for _, t := range r.Targets {
			if models[t] == nil {
				bad("%s (%s): target %q is not a model in the catalogue", at, r.Name, t)
			}
		}
		if c := r.Cache; c != nil {
			if c.TTL <= 0 {
				bad("%s (%s): cache.ttl must be a positive duration (e.g. 10m)", at, r.Name)
			}
			switch {
			case c.MaxBytes < 0:
				bad("%s (%s): cache.max_bytes must not be negative", at, r.Name)
			case c.MaxBytes == 0:
				c.MaxBytes = DefaultCacheMaxBytes
			}
			if f.caches == nil {
				f.caches = map[string]*RouteCache{}
			}
			f.caches[r.Name] = c
		}
	}
	ruleNames := map[string]bool{}
	for i, r := range f.Rules {
		at := fmt.Sprintf("rules[%d]", i)
		switch {
		case !nameRE.MatchString(r.Name):
			bad("%s: name %q must be lowercase letters, digits, '.', '_' or '-'", at, r.Name)
		case ruleNames[r.Name]:
			bad("%s: duplicate rule name %q", at, r.Name)
		}
		ruleNames[r.Name] = true
		if r.Module == "" {
			bad("%s (%s): module: the path of the .wasm file is required", at, r.Name)
		}
		if r.Mode != "active" && r.Mode != "shadow" {
			bad("%s (%s): mode %q: want active or shadow", at, r.Name, r.Mode)
		}
		if r.OnError != "skip" && r.OnError != "fail" {
			bad("%s (%s): on_error %q: want skip or fail", at, r.Name, r.OnError)
		}
		if r.Memory < 1 || r.Memory > 4096 {
			bad("%s (%s): memory %d MiB: want 1..4096", at, r.Name, r.Memory)
		}
		if r.Pool < 1 || r.Pool > 1024 {
			bad("%s (%s): pool %d: want 1..1024", at, r.Name, r.Pool)
		}
		for _, h := range r.Headers {
			if credentialHeaders[h] {
				bad("%s (%s): headers: %q carries the client's credentials; rules may not see it", at, r.Name, h)
			}
		}
	}
	if f.Retry.MaxAttempts < 1 || f.Retry.MaxAttempts > 20 {
		bad("retry: max_attempts %d: want 1..20", f.Retry.MaxAttempts)
	}
	if f.Limits.MaxBodyBytes < 1024 {
		bad("limits: max_body_bytes %d: want at least 1024", f.Limits.MaxBodyBytes)
	}
	if f.Limits.MaxInflight < 1 {
		bad("limits: max_inflight %d: want at least 1", f.Limits.MaxInflight)
	}
	if f.Limits.MaxQueue != nil && *f.Limits.MaxQueue < 0 {
		bad("limits: max_queue %d: must not be negative", *f.Limits.MaxQueue)
	}
	if f.Validation.MaxChars < 0 || f.Validation.StreamHoldback < 0 {
		bad("validation: max_chars and stream_holdback must not be negative")
	}
	switch f.Log.Access {
	case "on", "off", "errors":
	default:
		bad("log: access %q: want on, off or errors", f.Log.Access)
	}
	if f.Circuit.FailureThreshold < 1 || f.Circuit.HalfOpenProbes < 1 {
		bad("circuit: failure_threshold and half_open_probes must be at least 1")
	}
	keyNames := map[string]bool{}
	keySecrets := map[string]bool{}
	for i, k := range f.Keys {
		at := fmt.Sprintf("keys[%d]", i)
		switch {
		case !nameRE.MatchString(k.Name):
			bad("%s: name %q must be lowercase letters, digits, '.', '_' or '-'", at, k.Name)
		case keyNames[k.Name]:
			bad("%s: duplicate key name %q", at, k.Name)
		}
		keyNames[k.Name] = true
		if len(k.Key) < 8 {
			bad("%s (%s): key must be at least 8 characters", at, k.Name)
		} else if keySecrets[k.Key] {
			bad("%s (%s): the same key is configured twice", at, k.Name)
		}
		keySecrets[k.Key] = true
		for _, m := range k.Models {
			if models[m] == nil && !routes[m] && m != "auto" {
				bad("%s (%s): models: %q is neither a route nor a catalogue model", at, k.Name, m)
			}
		}
		for _, e := range CheckKeyPolicy(k.Limits, k.Budget) {
			bad("%s (%s): %s", at, k.Name, e)
		}
		for m := range k.Limits.Models {
			if models[m] == nil && !routes[m] && m != "auto" {
				bad("%s (%s): limits: models: %q is neither a route nor a catalogue model", at, k.Name, m)
			}
		}
	}
	f.checkLedger(bad)
	return errors.Join(errs...)
}

// CheckKeyPolicy checks a key's limits and budget, for config keys and the keys the admin
// API creates alike; it returns what is wrong, one message each.
func CheckKeyPolicy(l KeyLimits, b *KeyBudget) []string {
	var errs []string
	if l.RPM < 0 || l.TPM < 0 {
		errs = append(errs, "limits: rpm and tpm must not be negative (0 is no limit)")
	}
	for m, ml := range l.Models {
		if ml.RPM < 0 || ml.TPM < 0 {
			errs = append(errs, fmt.Sprintf("limits: models: %s: rpm and tpm must not be negative", m))
		}
	}
	if b != nil {
		if !(b.USD >= 0) || math.IsInf(b.USD, 0) {
			errs = append(errs, fmt.Sprintf("budget: usd %v: want a number of dollars, 0 or more", b.USD))
		}
		if !slices.Contains(BudgetPeriods, b.Period) {
			errs = append(errs, fmt.Sprintf("budget: period %q: want day, week, month or total", b.Period))
		}
	}
	return errs
}

// checkLedger checks ledger and state, and sets Ledger.SampleEvery.
func (f *File) checkLedger(bad func(string, ...any)) {
	l := &f.Ledger
	if u := l.URL; u != "" && !strings.HasPrefix(u, "sqlite:") && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		bad("ledger: url: want sqlite:PATH or postgres://..., got %s", redactURL(u))
	} else if u == "sqlite:" {
		bad("ledger: url: sqlite: needs a file path, like sqlite:.data/ledger.db")
	}
	switch v := l.RecordInputs; {
	case v == "none":
		l.SampleEvery = 0
	case v == "all":
		l.SampleEvery = 1
	case strings.HasPrefix(v, "sample:"):
		n, err := strconv.Atoi(strings.TrimPrefix(v, "sample:"))
		if err != nil || n < 1 {
			bad("ledger: record_inputs %q: sample:N needs a whole number N of at least 1 (one request in N)", v)
		}
		l.SampleEvery = n
	default:
		bad("ledger: record_inputs %q: want none, all or sample:N", v)
	}
	if l.Queue < 1 || l.Batch < 1 {
		bad("ledger: queue and batch must be at least 1")
	}
	if u := f.State.URL; u != "" && !strings.HasPrefix(u, "redis://") && !strings.HasPrefix(u, "rediss://") && !strings.HasPrefix(u, "unix://") {
		bad("state: url: want redis://, rediss:// or unix://, got %s", redactURL(u))
	}
	if o := f.State.OnError; o != "open" && o != "closed" {
		bad("state: on_error %q: want open or closed", o)
	}
}

// redactURL is a URL for a message: without its password, or only its scheme when it
// does not parse (it may hold a secret).
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	if i := strings.Index(s, ":"); i > 0 {
		return s[:i] + ":..."
	}
	return "(an unparsable URL)"
}

// LedgerPath is the SQLite file of ledger.url (sqlite:PATH), "" for another store.
func (l Ledger) LedgerPath() string {
	p, ok := strings.CutPrefix(l.URL, "sqlite:")
	if !ok {
		return ""
	}
	return p
}

// resolve makes paths absolute against dir and checks that the files exist.
func (f *File) resolve(dir string) error {
	var errs []error
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	for i := range f.Providers {
		p := &f.Providers[i]
		p.Plugin = abs(p.Plugin)
		if !p.IsEnabled() {
			continue
		}
		if st, err := os.Stat(p.Plugin); err != nil {
			errs = append(errs, fmt.Errorf("providers[%d] (%s): plugin %s: %w (run `make build`?)", i, p.Name, p.Plugin, unwrapPathError(err)))
		} else if st.IsDir() || st.Mode()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("providers[%d] (%s): plugin %s: not an executable file", i, p.Name, p.Plugin))
		}
	}
	if p := f.Ledger.LedgerPath(); p != "" && !filepath.IsAbs(p) {
		f.Ledger.URL = "sqlite:" + abs(p)
	}
	for i := range f.Rules {
		r := &f.Rules[i]
		r.Module = abs(r.Module)
		if _, err := os.Stat(r.Module); err != nil {
			errs = append(errs, fmt.Errorf("rules[%d] (%s): module %s: %w (run `make build`?)", i, r.Name, r.Module, unwrapPathError(err)))
		}
		if r.Golden != "" {
			r.Golden = abs(r.Golden)
			if _, err := os.Stat(r.Golden); err != nil {
				errs = append(errs, fmt.Errorf("rules[%d] (%s): golden %s: %w", i, r.Name, r.Golden, unwrapPathError(err)))
			}
		}
	}
	return errors.Join(errs...)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// EnabledProviders returns the providers that run.
func (f *File) EnabledProviders() []Provider {
	var out []Provider
	for _, p := range f.Providers {
		if p.IsEnabled() {
			out = append(out, p)
		}
	}
	return out
}
