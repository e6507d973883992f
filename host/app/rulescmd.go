package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/switchyard-llm/switchyard/host/rules"
)

const rulesUsage = `usage:
  switchyard rules test --module RULE.wasm --golden FILE|DIR [--config JSON|YAML|@FILE] [--deadline D] [--memory MiB] [-v]
  switchyard rules replay --module NEW.wasm [--config FILE] [--since 24h] [--from-ledger QUERY] ...

test runs a rule module against recorded inputs and the decisions expected of them (golden
cases, format in rules-wasm/README.md), in the same engine and sandbox the router uses,
without a running router. A dry run (POST /v1/switchyard/route) returns the "input" a
request gave the rules: save it with an "expect" to record a case. Exits non-zero when a
case fails.

replay re-evaluates the rule inputs the ledger recorded (ledger.record_inputs) against a new
module and prints, per route, how many decisions would change (switchyard rules replay -h).
`

// rulesCommand runs `switchyard rules ...`.
func rulesCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "replay" {
		return replayCommand(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprint(stderr, rulesUsage)
		return fmt.Errorf("rules: unknown or missing subcommand")
	}
	fs := flag.NewFlagSet("switchyard rules test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, rulesUsage) }
	module := fs.String("module", "", "the rule's .wasm file")
	golden := fs.String("golden", "", "a golden case file, or a folder of them")
	cfgArg := fs.String("config", "", "the rule's config JSON or YAML, or @file (cases may carry their own)")
	deadline := fs.Duration("deadline", time.Second, "deadline per evaluation")
	memory := fs.Int("memory", 16, "memory cap in MiB")
	verbose := fs.Bool("v", false, "print every case, not only failures")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *module == "" || *golden == "" {
		fs.Usage()
		return fmt.Errorf("rules test: --module and --golden are required")
	}
	var ruleCfg json.RawMessage
	if *cfgArg != "" {
		var err error
		if ruleCfg, err = readRuleConfig("config", *cfgArg); err != nil {
			return fmt.Errorf("rules test: %w", err)
		}
	}
	cases, err := rules.ReadGolden(*golden)
	if err != nil {
		return fmt.Errorf("rules test: %w", err)
	}
	name := strings.TrimSuffix(filepathBase(*module), ".wasm")
	spec := rules.Spec{Name: sanitizeName(name), Path: *module, Config: ruleCfg,
		Limits: rules.Limits{Deadline: *deadline, MemoryMiB: *memory, Pool: 1}}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	results, err := rules.RunGolden(context.Background(), spec, cases, rules.Options{CacheDir: cacheDir(), Logger: log})
	if err != nil {
		return fmt.Errorf("rules test: %w", err)
	}
	failed := 0
	for _, r := range results {
		if r.Problem != "" {
			failed++
			got := r.Output
			if got == "" {
				got = "no opinion"
			}
			fmt.Fprintf(stdout, "FAIL %s (%s): %s\n     got %s\n", r.Case.Name, r.Case.File, r.Problem, got)
		} else if *verbose {
			fmt.Fprintf(stdout, "ok   %s\n", r.Case.Name)
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", len(results)-failed, failed)
	if failed > 0 {
		return fmt.Errorf("rules test: %d of %d golden cases failed", failed, len(results))
	}
	return nil
}

func filepathBase(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// sanitizeName makes a file name usable as a rule name in logs.
func sanitizeName(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return "rule"
	}
	return b.String()
}
