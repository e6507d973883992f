package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/ledger"
	"github.com/switchyard-llm/switchyard/host/pipeline"
	"github.com/switchyard-llm/switchyard/host/rules"
	"github.com/switchyard-llm/switchyard/host/wire"
)

const replayUsage = `usage:
  switchyard rules replay --module NEW.wasm [--config FILE] [--rule NAME] [--rule-config JSON|YAML|@FILE]
      [--route R] [--since T] [--until T] [--from-ledger QUERY] [--sample N] [--limit N] [--deadline D] [--json]

Re-evaluates the rule inputs the ledger recorded (ledger.record_inputs: sample:N or all)
against a new module: the config's rule chain runs with NEW.wasm in its rule's place, on the
exact recorded input of each request, and the decision is compared with the recorded one
(its targets in order, or its reject). Prints per route how many decisions would change and
a sample of them; never the inputs, which hold prompts. Exits 0 when the replay ran, also
when decisions change.

  --module NEW.wasm   the new rule module (required)
  --config FILE       the router's config: its ledger.url, rules and routes (default host/config/default.yaml)
  --rule NAME         the rule entry NEW.wasm replaces (default: the config's only rule, or the one
                      named like the file); NEW.wasm runs active in its place, with its settings
  --rule-config C     the rule's config as JSON or YAML text, or @FILE, instead of its entry's config:
  --route R           only this route (the model the clients asked for)
  --since T           rows from T (default 24h: a duration back from now, an RFC 3339 time or unix seconds)
  --until T           rows before T (default now; the same forms)
  --from-ledger Q     the rows GET /admin/requests would select, as its query string:
                      key=&team=&model=&route=&endpoint=&status=&since=&until=&limit=
  --sample N          changed decisions (and errors) shown per route (default 5)
  --limit N           at most N rows with an input, newest first (default 10000)
  --deadline D        deadline of each rule evaluation (default 1s: a replay is not the request path)
  --json              print JSON
`

// replayCommand runs `switchyard rules replay` (args without "replay").
func replayCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("switchyard rules replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, replayUsage) }
	module := fs.String("module", "", "the new rule module")
	cfgPath := fs.String("config", "host/config/default.yaml", "the router's config file")
	ruleName := fs.String("rule", "", "the rule entry the module replaces")
	ruleCfgArg := fs.String("rule-config", "", "the rule's config: JSON or YAML, or @file")
	route := fs.String("route", "", "only this route")
	since := fs.String("since", "24h", "rows from this time")
	until := fs.String("until", "", "rows before this time (default now)")
	fromLedger := fs.String("from-ledger", "", "a GET /admin/requests query string")
	sample := fs.Int("sample", 5, "changed decisions shown per route")
	limit := fs.Int("limit", 10000, "at most this many rows")
	deadline := fs.Duration("deadline", time.Second, "deadline per evaluation")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("rules replay: unexpected argument %q", fs.Arg(0))
	case *module == "":
		fs.Usage()
		return errors.New("rules replay: --module is required")
	case *sample < 0:
		return fmt.Errorf("rules replay: --sample %d: want 0 or more", *sample)
	case *limit < 1:
		return fmt.Errorf("rules replay: --limit %d: want 1 or more", *limit)
	case *deadline <= 0:
		return fmt.Errorf("rules replay: --deadline %s: want a positive duration", *deadline)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	modulePath, err := filepath.Abs(*module)
	if err == nil {
		_, err = os.Stat(modulePath)
	}
	if err != nil {
		return fmt.Errorf("rules replay: --module: %w", err)
	}
	var ruleCfg json.RawMessage
	if *ruleCfgArg != "" {
		if ruleCfg, err = readRuleConfig("rule-config", *ruleCfgArg); err != nil {
			return fmt.Errorf("rules replay: %w", err)
		}
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err // names the file
	}
	if cfg.Ledger.URL == "" {
		return fmt.Errorf("config %s: the ledger is off: set ledger.url (and ledger.record_inputs) to record what a replay reads", cfg.Path)
	}
	now := time.Now()
	q, err := replayQuery(now, *route, *since, *until, *limit, *fromLedger, set)
	if err != nil {
		return fmt.Errorf("rules replay: %w", err)
	}
	specs, replaced, err := replaySpecs(cfg, modulePath, *ruleName, ruleCfg, *deadline)
	if err != nil {
		return fmt.Errorf("rules replay: %w", err)
	}

	// The chain as the router would load it, quarantine off so that every row runs (a
	// replay is not traffic: nothing is observed or counted), one instance per rule as
	// rows are evaluated one at a time. Rule log lines below error level are dropped:
	// thousands of evaluations would bury the report.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	ctx := context.Background()
	lctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	chain, err := rules.Load(lctx, specs, rules.Options{CacheDir: cacheDir(), Logger: log, QuarantineAfter: -1})
	cancel()
	if err != nil {
		var le *rules.LoadError
		if errors.As(err, &le) && le.Rule != replaced {
			return fmt.Errorf("rules replay: config %s: %w", cfg.Path, err)
		}
		return fmt.Errorf("rules replay: %w", err) // names the module's file
	}
	defer chain.Close(context.Background())

	db, err := openReplayLedger(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	rep := &replayReport{Module: modulePath, Rule: replaced, Config: cfg.Path, Since: q.Since, Until: q.Until,
		Filters: filterText(q), Limit: q.Limit, Routes: []*routeReplay{}}
	for _, r := range chain.Rules() {
		if r.Name == replaced {
			rep.SHA256 = r.SHA256
		}
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	rep.Rows, rep.WithInput, err = db.CountInputs(cctx, q)
	cancel()
	if err != nil {
		return fmt.Errorf("rules replay: ledger %s: %w", redactedLedger(cfg), err)
	}
	rep.Skipped = rep.Rows - rep.WithInput
	p := &replayer{chain: chain, rule: replaced, sample: *sample, routes: map[string]*routeReplay{}}
	if err := db.Inputs(ctx, q, p.replay); err != nil {
		return fmt.Errorf("rules replay: ledger %s: %w", redactedLedger(cfg), err)
	}
	rep.finish(p, cfg.Path)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	return rep.print(stdout)
}

// readRuleConfig reads a rule's config from a flag: JSON or YAML text, or @FILE holding
// either. YAML must be a mapping (what a rule entry's config: is); it is handed to the
// rule as JSON, as the router does.
func readRuleConfig(flagName, arg string) (json.RawMessage, error) {
	text := []byte(arg)
	if path, ok := strings.CutPrefix(arg, "@"); ok {
		var err error
		if text, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("--%s: %w", flagName, err)
		}
	}
	if json.Valid(text) {
		return text, nil
	}
	var v any
	if err := yaml.Unmarshal(text, &v); err != nil {
		return nil, fmt.Errorf("--%s is neither JSON nor YAML: %w", flagName, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("--%s: want a JSON object or a YAML mapping", flagName)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagName, err)
	}
	return b, nil
}

// replayQuery is the rows a replay reads: the flags' filters, and --from-ledger's in the
// syntax of GET /admin/requests (a whole URL may be pasted: what precedes ? is ignored).
// A filter given both ways is refused rather than one silently winning.
func replayQuery(now time.Time, route, since, until string, limit int, fromLedger string, set map[string]bool) (ledger.RequestQuery, error) {
	q := ledger.RequestQuery{Route: route, Limit: limit}
	if fromLedger != "" {
		raw := fromLedger
		if i := strings.IndexByte(raw, '?'); i >= 0 {
			raw = raw[i+1:]
		}
		v, err := url.ParseQuery(raw)
		if err != nil {
			return q, fmt.Errorf("--from-ledger: %w", err)
		}
		for name := range v {
			if !slices.Contains(ledger.RequestParams, name) {
				return q, fmt.Errorf("--from-ledger: unknown parameter %.32q: want %s", name, strings.Join(ledger.RequestParams, ", "))
			}
		}
		for _, name := range []string{"route", "since", "until", "limit"} {
			if v.Has(name) && set[name] {
				return q, fmt.Errorf("--%s and --from-ledger's %s= both given: keep one", name, name)
			}
		}
		// Times are read below, with the flags' defaults when the query has none.
		if v.Has("since") {
			since = v.Get("since")
		}
		if v.Has("until") {
			until = v.Get("until")
		}
		v.Del("since")
		v.Del("until")
		fq, err := ledger.ParseRequestQuery(v, now)
		if err != nil {
			return q, fmt.Errorf("--from-ledger: %w", err)
		}
		if !v.Has("route") {
			fq.Route = q.Route
		}
		if !v.Has("limit") {
			fq.Limit = q.Limit
		}
		q = fq
	}
	var err error
	if q.Since, err = ledger.ParseTime(since, now); err != nil {
		return q, fmt.Errorf("since %w", err)
	}
	if until == "" {
		q.Until = now // the count and the rows then see the same rows, however long the replay runs
	} else if q.Until, err = ledger.ParseTime(until, now); err != nil {
		return q, fmt.Errorf("until %w", err)
	}
	if !q.Since.IsZero() && !q.Until.After(q.Since) {
		return q, fmt.Errorf("since %s is not before until %s", q.Since.UTC().Format(time.RFC3339), q.Until.UTC().Format(time.RFC3339))
	}
	return q, nil
}

// replaySpecs is the config's chain with module in the place of the rule it replaces
// (named, the only one, or the one named like the file), which runs active: a shadow
// entry is replayed as if promoted, since a shadow rule decides nothing. ruleCfg, when
// set, replaces the entry's config. Every rule gets the replay's deadline and one instance.
func replaySpecs(cfg *config.File, module, name string, ruleCfg json.RawMessage, deadline time.Duration) ([]rules.Spec, string, error) {
	names := make([]string, len(cfg.Rules))
	for i, r := range cfg.Rules {
		names[i] = r.Name
	}
	at := -1
	switch base := strings.TrimSuffix(filepath.Base(module), ".wasm"); {
	case name != "":
		if at = slices.Index(names, name); at < 0 {
			return nil, "", fmt.Errorf("config %s has no rule %q (its rules: %s)", cfg.Path, name, listOrNone(names))
		}
	case len(cfg.Rules) == 1:
		at = 0
	case len(cfg.Rules) > 1:
		for i, r := range cfg.Rules {
			if r.Name == base || filepath.Base(r.Module) == filepath.Base(module) {
				if at >= 0 {
					at = -1
					break
				}
				at = i
			}
		}
		if at < 0 {
			return nil, "", fmt.Errorf("config %s has rules %s: name the one %s replaces with --rule", cfg.Path,
				strings.Join(names, ", "), filepath.Base(module))
		}
	}
	var specs []rules.Spec
	for _, r := range cfg.Rules {
		specs = append(specs, ruleSpec(r))
	}
	if at < 0 {
		// A config without rules: the module is its only rule.
		specs = append(specs, rules.Spec{Name: sanitizeName(strings.TrimSuffix(filepath.Base(module), ".wasm"))})
		at = 0
	}
	specs[at].Path, specs[at].Mode = module, rules.ModeActive
	if ruleCfg != nil {
		specs[at].Config = ruleCfg
	}
	for i := range specs {
		specs[i].Limits.Deadline, specs[i].Limits.Pool = deadline, 1
	}
	return specs, specs[at].Name, nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// replayLedger is what a replay reads of the ledger.
type replayLedger interface {
	ledger.InputReader
	Close() error
}

// openReplayLedger opens the config's ledger. A SQLite file must exist: opening would
// create an empty one, and a replay of nothing would hide a wrong ledger.url.
func openReplayLedger(ctx context.Context, cfg *config.File) (replayLedger, error) {
	if p := cfg.Ledger.LedgerPath(); p != "" {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("rules replay: config %s: ledger %s does not exist (is ledger.url right? the router creates it when it first serves)", cfg.Path, p)
		} else if err != nil {
			return nil, fmt.Errorf("rules replay: config %s: ledger: %w", cfg.Path, err)
		}
	}
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	db, err := openDatabase(octx, cfg.Ledger)
	if err != nil {
		return nil, fmt.Errorf("rules replay: config %s: %w", cfg.Path, err) // the store's message names the file or URL
	}
	r, ok := db.(replayLedger)
	if !ok {
		db.Close()
		return nil, fmt.Errorf("rules replay: config %s: the ledger's store cannot stream rule inputs", cfg.Path)
	}
	return r, nil
}

// redactedLedger names the config's ledger in messages, without a password.
func redactedLedger(cfg *config.File) string {
	if p := cfg.Ledger.LedgerPath(); p != "" {
		return p
	}
	if u, err := url.Parse(cfg.Ledger.URL); err == nil {
		return u.Redacted()
	}
	return "(ledger.url of " + cfg.Path + ")"
}

// outcome is what a request was routed to: its targets in order ("provider/model"), a
// reject's status, or a code when it got no target (rule_error: a rule with on_error:
// fail failed; no_route: no rule decided a route without default targets).
type outcome struct {
	Targets []string `json:"targets,omitempty"`
	Reject  int      `json:"reject,omitempty"`
	Code    string   `json:"code,omitempty"`
}

func (o outcome) equal(p outcome) bool {
	return slices.Equal(o.Targets, p.Targets) && o.Reject == p.Reject && o.Code == p.Code
}

func (o outcome) String() string {
	switch {
	case len(o.Targets) > 0:
		return strings.Join(o.Targets, ", ")
	case o.Reject != 0:
		return "reject " + strconv.Itoa(o.Reject)
	case o.Code != "":
		return o.Code
	}
	return "(no targets)"
}

// recordedOutcome is what the row's request was routed to: its plan's targets, or, with
// none, what its error code says the rules did.
func recordedOutcome(r *ledger.Row) outcome {
	switch {
	case len(r.Targets) > 0:
		return outcome{Targets: r.Targets}
	case r.Code == wire.CodeRuleRejected:
		return outcome{Reject: r.Status}
	case r.Code == wire.CodeRuleError, r.Code == wire.CodeNoRoute:
		return outcome{Code: r.Code}
	}
	return outcome{}
}

// newOutcome is what the pipeline's Plan makes of the chain's result for the input: a
// rule_error, a reject, the decision's targets (the engine accepts only candidates, which
// the pipeline had already narrowed to those serving the request), or else the route's
// default targets. Those are the candidates themselves, in route order, as the catalogue
// resolves a route or a model to the same list; "auto" has none.
func newOutcome(res *rules.Result, in *rules.Input) outcome {
	d := res.Decision
	switch {
	case res.Err != nil:
		return outcome{Code: wire.CodeRuleError}
	case d != nil && d.Reject != nil:
		return outcome{Reject: d.Reject.Status}
	case d != nil && len(d.Targets) > 0:
		ts := make([]string, len(d.Targets))
		for i, t := range d.Targets {
			ts[i] = t.Provider + "/" + t.Model
		}
		return outcome{Targets: ts}
	case in.Request.Model == pipeline.AutoModel || len(in.Candidates) == 0:
		return outcome{Code: wire.CodeNoRoute}
	}
	ts := make([]string, len(in.Candidates))
	for i, c := range in.Candidates {
		ts[i] = c.Provider + "/" + c.Model
	}
	return outcome{Targets: ts}
}

// replayer evaluates the rows one at a time and keeps the counts and samples per route.
type replayer struct {
	chain  *rules.Chain
	rule   string // the replaced rule's name
	sample int
	routes map[string]*routeReplay
}

// routeReplay is one route's replay.
type routeReplay struct {
	Route     string `json:"route"`
	Replayed  int    `json:"replayed"` // changed + unchanged + errors
	Changed   int    `json:"changed"`
	Unchanged int    `json:"unchanged"`
	Errors    int    `json:"errors"` // the new module failed, or the input could not be read
	// Changes and ErrorSamples are the first --sample of each, newest first.
	Changes      []replayChange `json:"changes"`
	ErrorSamples []replayError  `json:"error_samples"`
}

type replayChange struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Recorded outcome   `json:"recorded"`
	New      outcome   `json:"new"`
}

type replayError struct {
	ID    string    `json:"id"`
	Time  time.Time `json:"time"`
	Error string    `json:"error"`
}

// maxErrorText bounds a sampled error message: one line of a report, and a rule's own
// message could quote what it read.
const maxErrorText = 200

func (p *replayer) route(name string) *routeReplay {
	r := p.routes[name]
	if r == nil {
		r = &routeReplay{Route: name, Changes: []replayChange{}, ErrorSamples: []replayError{}}
		p.routes[name] = r
	}
	return r
}

// replay evaluates one row's recorded input and counts how its decision compares.
func (p *replayer) replay(row ledger.Row) error {
	rr := p.route(row.Route)
	rr.Replayed++
	fail := func(msg string) {
		rr.Errors++
		if len(rr.ErrorSamples) < p.sample {
			rr.ErrorSamples = append(rr.ErrorSamples, replayError{ID: row.ID, Time: row.Time, Error: shorten(msg, maxErrorText)})
		}
	}
	// The engine decodes the recorded bytes and encodes them again for each rule as the
	// router does (its headers, its content size), as a golden case's input.
	var in rules.Input
	if err := json.Unmarshal(row.RuleInput, &in); err != nil {
		fail("the recorded input is not a rule input: " + err.Error())
		return nil
	}
	res := p.chain.Evaluate(context.Background(), &in)
	for _, tr := range res.Trace {
		if tr.Rule == p.rule && (tr.Outcome == rules.OutcomeError || tr.Outcome == rules.OutcomeTimeout) {
			fail(tr.Outcome + ": " + tr.Error)
			return nil
		}
	}
	was, now := recordedOutcome(&row), newOutcome(res, &in)
	if was.equal(now) {
		rr.Unchanged++
		return nil
	}
	rr.Changed++
	if len(rr.Changes) < p.sample {
		rr.Changes = append(rr.Changes, replayChange{ID: row.ID, Time: row.Time, Recorded: was, New: now})
	}
	return nil
}

// shorten cuts s to at most n bytes on a UTF-8 boundary, on one line.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// replayReport is the whole replay, as --json prints it.
type replayReport struct {
	Module  string    `json:"module"`
	SHA256  string    `json:"sha256"`
	Rule    string    `json:"rule"` // the rule entry the module replaced
	Config  string    `json:"config"`
	Since   time.Time `json:"since,omitzero"`
	Until   time.Time `json:"until,omitzero"`
	Filters string    `json:"filters,omitempty"` // the other filters, as a query string
	Limit   int       `json:"limit"`
	// Rows are the rows in the range and filters, WithInput those with a recorded rule
	// input, Skipped the others (never replayed).
	Rows      int64 `json:"rows"`
	WithInput int64 `json:"with_input"`
	Skipped   int64 `json:"skipped_no_input"`
	// Limited is set when the limit left rows with an input out (the oldest).
	Limited   bool           `json:"limited"`
	Replayed  int            `json:"replayed"`
	Changed   int            `json:"changed"`
	Unchanged int            `json:"unchanged"`
	Errors    int            `json:"errors"`
	Routes    []*routeReplay `json:"routes"` // by route name
	Hint      string         `json:"hint,omitempty"`
}

func (rep *replayReport) finish(p *replayer, cfgPath string) {
	for _, name := range slices.Sorted(maps.Keys(p.routes)) {
		r := p.routes[name]
		rep.Routes = append(rep.Routes, r)
		rep.Replayed += r.Replayed
		rep.Changed += r.Changed
		rep.Unchanged += r.Unchanged
		rep.Errors += r.Errors
	}
	rep.Limited = rep.WithInput > int64(rep.Replayed)
	if rep.Skipped > 0 {
		rep.Hint = fmt.Sprintf("%d row(s) have no recorded rule input: set ledger.record_inputs to sample:N or all in %s to record them", rep.Skipped, cfgPath)
	}
}

// filterText is q's filters other than the time range, as a query string.
func filterText(q ledger.RequestQuery) string {
	v := url.Values{}
	for _, f := range [][2]string{{"key", q.Key}, {"team", q.Team}, {"model", q.Model}, {"route", q.Route},
		{"endpoint", q.Endpoint}, {"status", q.Status}} {
		if f[1] != "" {
			v.Set(f[0], f[1])
		}
	}
	return v.Encode()
}

func (rep *replayReport) print(w io.Writer) error {
	sha := rep.SHA256
	if len(sha) > 12 {
		sha = sha[:12]
	}
	fmt.Fprintf(w, "replay of %s (sha256 %s) as rule %q of %s\n", rep.Module, sha, rep.Rule, rep.Config)
	from := "the first row"
	if !rep.Since.IsZero() {
		from = rep.Since.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "rows from %s to %s", from, rep.Until.UTC().Format(time.RFC3339))
	if rep.Filters != "" {
		fmt.Fprintf(w, " (%s)", rep.Filters)
	}
	fmt.Fprintf(w, ": %d, %d with a recorded input, %d skipped (no input recorded)\n", rep.Rows, rep.WithInput, rep.Skipped)
	if rep.Limited {
		fmt.Fprintf(w, "only the newest %d rows with an input were replayed (--limit)\n", rep.Replayed)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tREPLAYED\tCHANGED\tUNCHANGED\tERRORS")
	for _, r := range rep.Routes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", r.Route, r.Replayed, r.Changed, r.Unchanged, r.Errors)
	}
	fmt.Fprintf(tw, "(all)\t%d\t%d\t%d\t%d\n", rep.Replayed, rep.Changed, rep.Unchanged, rep.Errors)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rep.Routes {
		if r.Changed > 0 {
			fmt.Fprintf(w, "\nroute %s: %d of %d decisions change", r.Route, r.Changed, r.Replayed)
			if len(r.Changes) < r.Changed {
				fmt.Fprintf(w, " (the newest %d)", len(r.Changes))
			}
			fmt.Fprintln(w, ":")
			for _, c := range r.Changes {
				fmt.Fprintf(w, "  %s  %s  %s → %s\n", c.ID, c.Time.UTC().Format(time.RFC3339), c.Recorded, c.New)
			}
		}
		if r.Errors > 0 {
			fmt.Fprintf(w, "\nroute %s: the new module failed on %d of %d inputs", r.Route, r.Errors, r.Replayed)
			if len(r.ErrorSamples) < r.Errors {
				fmt.Fprintf(w, " (the newest %d)", len(r.ErrorSamples))
			}
			fmt.Fprintln(w, ":")
			for _, e := range r.ErrorSamples {
				fmt.Fprintf(w, "  %s  %s  %s\n", e.ID, e.Time.UTC().Format(time.RFC3339), e.Error)
			}
		}
	}
	if rep.Hint != "" {
		fmt.Fprintf(w, "\nhint: %s\n", rep.Hint)
	}
	return nil
}
