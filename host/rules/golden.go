package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/switchyard-llm/switchyard/host/rules/abi"
)

// GoldenCase is a recorded input and the decision a rule must make for it. The file format
// (one case per JSON file) is documented in rules-wasm/README.md.
type GoldenCase struct {
	Name string `json:"name"`
	// About is a comment for the reader of the case; it is not checked.
	About string `json:"about"`
	// Config, when set, replaces the rule's configured config for this case.
	Config json.RawMessage `json:"config"`
	// Headers, when set, are the request headers the rule may see (its config's headers:).
	Headers []string `json:"headers"`
	// Content, when set, opts the rule in to request.content as its config's content:
	// would: it sees the input's request.content cut to MaxBytes. Without it the rule
	// sees what its Spec says (for `switchyard rules test`: no content).
	Content *GoldenContent  `json:"content"`
	Input   json.RawMessage `json:"input"`
	Expect  GoldenExpect    `json:"expect"`
	// File is where the case was read from.
	File string `json:"-"`
}

// GoldenContent is a case's content: {max_bytes: N}.
type GoldenContent struct {
	MaxBytes int `json:"max_bytes"`
}

// GoldenExpect is one of: Targets (exactly, in order), Reject (status, and message when
// given), NoOpinion, or Error: the rule reports its own failure (or traps) with an error
// whose text contains Error, as a rule should for input it cannot work with. Tags, when
// set, must equal the decision's tags.
type GoldenExpect struct {
	Targets   []Target `json:"targets"`
	Reject    *Reject  `json:"reject"`
	NoOpinion bool     `json:"no_opinion"`
	Error     string   `json:"error"`
	Tags      []string `json:"tags"`
}

// GoldenResult is the outcome of one case. Problem is empty when the case passed.
type GoldenResult struct {
	Case    GoldenCase
	Output  string
	Problem string
}

// ReadGolden reads the cases of a file or of every *.json in a folder, in name order.
func ReadGolden(path string) ([]GoldenCase, error) {
	files := []string{path}
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if st.IsDir() {
		files, _ = filepath.Glob(filepath.Join(path, "*.json"))
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no *.json golden cases", path)
		}
	}
	var cases []GoldenCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var c GoldenCase
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if len(c.Input) == 0 {
			return nil, fmt.Errorf("%s: no input", f)
		}
		if c.Content != nil && (c.Content.MaxBytes < 1 || c.Content.MaxBytes > abi.MaxContentBytes) {
			return nil, fmt.Errorf("%s: content.max_bytes %d is not 1..%d", f, c.Content.MaxBytes, abi.MaxContentBytes)
		}
		if c.Name == "" {
			c.Name = strings.TrimSuffix(filepath.Base(f), ".json")
		}
		c.File = f
		cases = append(cases, c)
	}
	return cases, nil
}

// RunGolden loads the rule of spec (once per distinct case config) and checks every case.
// It returns an error only when the rule cannot be loaded; failed cases are in the results.
//
// The rule is loaded on its own: opts.Previous and opts.Observer are ignored (a golden run
// is not traffic, and its failures must never count towards the quarantine of a serving
// rule), and quarantine is off, so that every case runs.
func RunGolden(ctx context.Context, spec Spec, cases []GoldenCase, opts Options) ([]GoldenResult, error) {
	spec.Mode = ModeActive
	opts.Previous, opts.Observer, opts.QuarantineAfter = nil, nil, -1
	chains := map[string]*Chain{}
	defer func() {
		for _, c := range chains {
			_ = c.Close(context.Background())
		}
	}()
	results := make([]GoldenResult, 0, len(cases))
	for _, gc := range cases {
		s := spec
		if len(gc.Config) > 0 {
			s.Config = gc.Config
		}
		if gc.Headers != nil {
			s.Headers = gc.Headers
		}
		if gc.Content != nil {
			s.ContentBytes = gc.Content.MaxBytes
		}
		key := string(s.Config) + "\x00" + strings.Join(s.Headers, ",") + "\x00" + strconv.Itoa(s.ContentBytes)
		c, ok := chains[key]
		if !ok {
			var err error
			if c, err = Load(ctx, []Spec{s}, opts); err != nil {
				return nil, err
			}
			chains[key] = c
		}
		results = append(results, checkGolden(ctx, c, gc))
	}
	return results, nil
}

func checkGolden(ctx context.Context, c *Chain, gc GoldenCase) GoldenResult {
	r := GoldenResult{Case: gc}
	var in Input
	if err := json.Unmarshal(gc.Input, &in); err != nil {
		r.Problem = "input: " + err.Error()
		return r
	}
	in.Trace = true // the output shows in the result
	res := c.Evaluate(ctx, &in)
	if len(res.Trace) == 0 {
		r.Problem = "the rule did not run"
		return r
	}
	tr := res.Trace[0]
	r.Output = string(tr.Output)
	e, d := gc.Expect, res.Decision
	if e.Error != "" {
		if tr.Outcome != OutcomeError || !strings.Contains(tr.Error, e.Error) {
			r.Problem = fmt.Sprintf("want an error containing %q; outcome %s %s", e.Error, tr.Outcome, tr.Error)
		}
		return r
	}
	if tr.Outcome == OutcomeError || tr.Outcome == OutcomeTimeout {
		r.Problem = tr.Outcome + ": " + tr.Error
		return r
	}
	switch {
	case e.NoOpinion:
		if d != nil {
			r.Problem = "want no opinion"
		}
	case e.Reject != nil:
		if d == nil || d.Reject == nil {
			r.Problem = fmt.Sprintf("want a reject with status %d", e.Reject.Status)
		} else if d.Reject.Status != e.Reject.Status || e.Reject.Message != "" && d.Reject.Message != e.Reject.Message {
			r.Problem = fmt.Sprintf("want reject %d %q", e.Reject.Status, e.Reject.Message)
		}
	default:
		if d == nil || !reflect.DeepEqual(d.Targets, e.Targets) {
			want, _ := json.Marshal(e.Targets)
			r.Problem = "want targets " + string(want)
		}
	}
	if r.Problem == "" && e.Tags != nil && (d == nil || !reflect.DeepEqual(d.Tags, e.Tags)) {
		r.Problem = fmt.Sprintf("want tags %v", e.Tags)
	}
	return r
}

// GoldenFailures summarises failed results as one error, nil when all passed.
func GoldenFailures(results []GoldenResult) error {
	var errs []error
	for _, r := range results {
		if r.Problem != "" {
			errs = append(errs, fmt.Errorf("golden case %s (%s): %s; got %s", r.Case.Name, r.Case.File, r.Problem, orNone(r.Output)))
		}
	}
	return errors.Join(errs...)
}

func orNone(s string) string {
	if s == "" {
		return "no opinion"
	}
	return s
}
