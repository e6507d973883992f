package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/switchyard-llm/switchyard/host/config"
	"github.com/switchyard-llm/switchyard/host/ledger"
)

const usageCmdHelp = `usage:
  switchyard usage --config FILE [--group-by key|team|model|provider|route|endpoint] [--from T] [--to T] [--interval hour|day] [--key NAME] [--json]
  switchyard usage requests --config FILE [--key NAME] [--model M] [--status S] [--since T] [--limit N] [--json]

Reads the ledger the config's ledger.url names (what GET /admin/usage and /admin/requests
answer), from this machine: a running router need not be asked. T is an RFC 3339 time, unix
seconds, or a duration back from now (24h).
`

// usageCommand is `switchyard usage`.
func usageCommand(args []string, stdout, stderr io.Writer) error {
	requests := len(args) > 0 && args[0] == "requests"
	if requests {
		args = args[1:]
	}
	fs := flag.NewFlagSet("switchyard usage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageCmdHelp) }
	cfgPath := fs.String("config", "host/config/default.yaml", "config `FILE`")
	groupBy := fs.String("group-by", "model", "usage grouped by")
	from := fs.String("from", "", "from time")
	to := fs.String("to", "", "to time")
	interval := fs.String("interval", "", "hour or day buckets")
	key := fs.String("key", "", "only this key")
	model := fs.String("model", "", "requests: only this model")
	status := fs.String("status", "", "requests: status (200, 4xx, 5xx, error)")
	since := fs.String("since", "", "requests: since time")
	limit := fs.Int("limit", 20, "requests: at most this many")
	asJSON := fs.Bool("json", false, "print JSON, as the admin API answers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if cfg.Ledger.URL == "" {
		return fmt.Errorf("config %s: the ledger is off: set ledger.url", cfg.Path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := openDatabase(ctx, cfg.Ledger)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now()
	at := func(name, v string) (time.Time, error) {
		t, err := ledger.ParseTime(v, now)
		if err != nil {
			return t, fmt.Errorf("--%s %w", name, err)
		}
		return t, nil
	}
	if requests {
		q := ledger.RequestQuery{Key: *key, Model: *model, Status: *status, Limit: *limit}
		if q.Since, err = at("since", *since); err != nil {
			return err
		}
		rows, err := db.Requests(ctx, q)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(rows)
		}
		w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(w, "TIME\tID\tKEY\tROUTE\tMODEL\tSTATUS\tCODE\tTOKENS IN/OUT\tCOST USD\tLATENCY MS")
		for _, r := range rows {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d/%d\t%.6f\t%.1f\n", r.Time.UTC().Format(time.RFC3339), r.ID, r.Key, r.Route,
				r.Model, r.Status, r.Code, r.TokensIn, r.TokensOut, r.CostUSD, float64(r.Latency.Microseconds())/1e3)
		}
		return w.Flush()
	}
	q := ledger.UsageQuery{GroupBy: *groupBy, Interval: *interval, Key: *key}
	if q.From, err = at("from", *from); err != nil {
		return err
	}
	if q.To, err = at("to", *to); err != nil {
		return err
	}
	buckets, err := db.Usage(ctx, q)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"object": "usage", "group_by": q.GroupBy, "interval": q.Interval, "data": buckets})
	}
	w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(w, "START\t%s\tREQUESTS\tERRORS\tTOKENS IN\tTOKENS OUT\tCOST USD\n", upper(q.GroupBy))
	for _, b := range buckets {
		start := "-"
		if !b.Start.IsZero() {
			start = b.Start.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%.6f\n", start, b.Group, b.Requests, b.Errors, b.TokensIn, b.TokensOut, b.CostUSD)
	}
	return w.Flush()
}

func upper(s string) string {
	if s == "" {
		return "GROUP"
	}
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
