// Command loadtest measures Switchyard against a mock OpenAI-compatible
// upstream, a direct call and a bare reverse proxy, all on 127.0.0.1. `make
// loadtest` builds the router, plugins and rules first; see host/loadtest.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchyard-llm/switchyard/host/loadtest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	o := loadtest.DefaultOptions()
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	rates := fs.String("rates", joinRates(o.Rates), "fixed rates, requests/s, comma-separated")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "measured time per step")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "unmeasured load before each step")
	fs.IntVar(&o.BodyBytes, "body-bytes", o.BodyBytes, "request body size and the mock's answer content size")
	fs.IntVar(&o.StreamChunks, "stream-chunks", o.StreamChunks, "content chunks of a streamed answer")
	fs.DurationVar(&o.UpstreamDelay, "upstream-delay", o.UpstreamDelay, "the mock upstream's fixed delay (0 measures pure overhead)")
	fs.IntVar(&o.MaxInflight, "max-inflight", o.MaxInflight, "the load generator's concurrency cap; a request due beyond it is dropped")
	systems := fs.String("systems", strings.Join(o.Systems, ","), "systems to measure: "+strings.Join(loadtest.AllSystems, ","))
	fs.Float64Var(&o.StreamRate, "stream-rate", o.StreamRate, "rate of the streaming (TTFB) steps; 0 skips them")
	fs.Float64Var(&o.CompareRate, "compare-rate", o.CompareRate, "rate of the paired rounds of the ledger, keys and redis systems")
	fs.IntVar(&o.CompareRounds, "compare-rounds", o.CompareRounds, "quiet paired rounds each comparison needs")
	fs.BoolVar(&o.Sustain, "sustain", o.Sustain, "search the highest rate with p99 < 50 ms")
	sustainRates := fs.String("sustain-rates", joinRates(o.SustainRates), "the sustain ramp, stopping at the first miss")
	fs.DurationVar(&o.SustainDuration, "sustain-duration", o.SustainDuration, "measured time per sustain step")
	fs.DurationVar(&o.SustainWarmup, "sustain-warmup", o.SustainWarmup, "warm-up per sustain step")
	fs.IntVar(&o.StreamsOpen, "streams-open", o.StreamsOpen, "streams held open through switchyard-1rule to read its RSS; 0 skips")
	fs.StringVar(&o.BinDir, "bin", o.BinDir, "folder with switchyard, plugins/ and rules/")
	fs.StringVar(&o.DefaultConfig, "default-config", o.DefaultConfig, "the default config, for its idle memory")
	quick := fs.Bool("quick", false, "a smoke run of under a minute (short steps, coarse ramp); explicit flags still win")
	jsonPath := fs.String("json", "", "also write the report as JSON to this file")
	timeout := fs.Duration("timeout", 15*time.Minute, "stop the whole run after this long (3m with --quick)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		q := o.Quick()
		keep := func(name string, dst *time.Duration, v time.Duration) {
			if !set[name] {
				*dst = v
			}
		}
		keep("duration", &o.Duration, q.Duration)
		keep("warmup", &o.Warmup, q.Warmup)
		keep("sustain-duration", &o.SustainDuration, q.SustainDuration)
		keep("sustain-warmup", &o.SustainWarmup, q.SustainWarmup)
		keep("timeout", timeout, 3*time.Minute)
		o.Drain = q.Drain
		if !set["sustain-rates"] {
			*sustainRates = joinRates(q.SustainRates)
		}
	}
	var err error
	if o.Rates, err = parseRates(*rates); err != nil {
		return fmt.Errorf("--rates: %w", err)
	}
	if o.SustainRates, err = parseRates(*sustainRates); err != nil {
		return fmt.Errorf("--sustain-rates: %w", err)
	}
	o.Systems = nil
	for _, s := range strings.Split(*systems, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.Systems = append(o.Systems, s)
		}
	}
	o.Command = strings.TrimSpace("go run ./host/cmd/loadtest " + strings.Join(args, " "))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := loadtest.Bench(ctx, o, os.Stderr)
	if rep == nil {
		return err
	}
	rep.Print(os.Stdout)
	if *jsonPath != "" {
		b, jerr := json.MarshalIndent(rep, "", "  ")
		if jerr == nil {
			jerr = os.WriteFile(*jsonPath, append(b, '\n'), 0o644)
		}
		if jerr != nil {
			return fmt.Errorf("--json: %w", jerr)
		}
	}
	return err
}

func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive rate", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func joinRates(r []float64) string {
	var parts []string
	for _, v := range r {
		parts = append(parts, strconv.FormatFloat(v, 'f', -1, 64))
	}
	return strings.Join(parts, ",")
}
