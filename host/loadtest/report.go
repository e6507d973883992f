package loadtest

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything one run measured. It is printed by Print and can be
// written as JSON (durations in nanoseconds, memory in kB).
type Report struct {
	Command     string                    `json:"command"`
	Machine     Machine                   `json:"machine"`
	Options     Options                   `json:"options"`
	Notes       []string                  `json:"notes"`
	Systems     []*SystemInfo             `json:"systems"`
	DefaultIdle []Proc                    `json:"default_config_idle"`
	Steps       []StepReport              `json:"steps"`
	Sustain     map[string]*SustainResult `json:"sustain"`
	StreamsOpen *StreamsOpenResult        `json:"streams_open,omitempty"`
	Compare     []*CompareResult          `json:"compare,omitempty"`
	Targets     []Target                  `json:"targets"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs         int    `json:"cpus"`
	CPU          string `json:"cpu"`
	Kernel       string `json:"kernel"`
	Go           string `json:"go"`
	Router       string `json:"router"`
	LoadAvgStart string `json:"loadavg_start"`
	LoadAvgEnd   string `json:"loadavg_end"`
}

// SystemInfo describes one system under test.
type SystemInfo struct {
	Name      string   `json:"name"`
	Note      string   `json:"note"`
	Rules     []string `json:"rules,omitempty"`
	DecidedBy string   `json:"decided_by,omitempty"` // x-switchyard-rule of the first answer
	Trace     []string `json:"trace,omitempty"`      // rule:outcome of a dry run
	Idle      []Proc   `json:"idle,omitempty"`
	Checks    []string `json:"checks,omitempty"` // what was seen of a governance feature at work
	// CompareOnly: measured in the governance comparison only, not in the other steps.
	CompareOnly bool `json:"compare_only,omitempty"`
}

// StepReport is one measured step against one system.
type StepReport struct {
	System           string        `json:"system"`
	Kind             string        `json:"kind"` // fixed, stream or sustain
	Stream           bool          `json:"stream"`
	Result           StepResult    `json:"result"`
	CPU              time.Duration `json:"cpu_ns"`             // router + plugins, during the step
	CPUPerRequest    time.Duration `json:"cpu_per_request_ns"` // CPU / good answers
	Procs            []Proc        `json:"procs,omitempty"`    // router + plugins after the step
	UpstreamRequests int64         `json:"upstream_requests"`  // what the mock served during the step
	Round            int           `json:"round,omitempty"`    // compare steps: the round, from 1
	// Others is the user CPU the rest of the machine (not this run's processes) used
	// during the step, in cores; -1: unknown.
	Others float64 `json:"others_cpu_cores"`
	// The private redis-server's CPU (switchyard-redis), not part of CPU.
	RedisCPU           time.Duration `json:"redis_cpu_ns,omitempty"`
	RedisCPUPerRequest time.Duration `json:"redis_cpu_per_request_ns,omitempty"`
}

// SustainResult is the ramp of one system.
type SustainResult struct {
	Max    float64      `json:"max_rps"` // highest rate that passed; 0: none
	Capped bool         `json:"capped"`  // every rate of the ramp passed
	Tried  []SustainTry `json:"tried"`
}

// SustainTry is one rate of the ramp.
type SustainTry struct {
	Rate     float64       `json:"rate"`
	P99      time.Duration `json:"p99_ns"`
	Errors   int           `json:"errors"`
	Achieved float64       `json:"achieved_rps"`
	Pass     bool          `json:"pass"`
	Why      string        `json:"why,omitempty"`
}

// StreamsOpenResult is the router's memory with many streams open.
type StreamsOpenResult struct {
	Wanted    int    `json:"wanted"`
	Opened    int    `json:"opened"`
	Failed    int    `json:"failed"`
	Completed int    `json:"completed"`
	Before    []Proc `json:"before"`
	Open      []Proc `json:"open"`
}

// Target is one goal of the issue, with its verdict.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Mark string `json:"mark"` // PASS, MISS or n/a
}

// Print writes the report as plain-text tables.
func (r *Report) Print(w io.Writer) {
	o := r.Options
	m := r.Machine
	fmt.Fprintf(w, "\n== Switchyard load test\n")
	fmt.Fprintf(w, "machine:  %d CPUs (nproc), %s, Linux %s, %s, %s\n", m.CPUs, m.CPU, m.Kernel, m.Go, m.Router)
	fmt.Fprintf(w, "load avg: %s at start, %s at end\n", m.LoadAvgStart, m.LoadAvgEnd)
	fmt.Fprintf(w, "command:  %s\n", r.Command)
	fmt.Fprintf(w, "setup:    load generator, mock upstream and bare proxy run in this process, on the same cores as the\n")
	fmt.Fprintf(w, "          routers; open loop, latency from the scheduled send time; requests of %d B, answers of %d B,\n", o.BodyBytes, o.BodyBytes)
	fmt.Fprintf(w, "          upstream delay %s, %d chunks per stream, concurrency cap %d, steps of %s after %s warm-up\n",
		o.UpstreamDelay, o.StreamChunks, o.MaxInflight, o.Duration, o.Warmup)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note:     %s\n", n)
	}

	fmt.Fprintf(w, "\nsystems\n")
	tw := table(w)
	for _, s := range r.Systems {
		fmt.Fprintf(tw, "  %s\t%s\n", s.Name, s.Note)
		if len(s.Rules) > 0 {
			fmt.Fprintf(tw, "  \trules: %s; answered by rule %s; dry-run trace: %s\n", strings.Join(s.Rules, ", "), s.DecidedBy, strings.Join(s.Trace, " "))
		}
		if len(s.Idle) > 0 {
			fmt.Fprintf(tw, "  \tidle RSS: %s\n", rssList(s.Idle, false))
		}
	}
	tw.Flush()

	if len(o.Rates) > 0 {
		fmt.Fprintf(w, "\nfixed rate, whole answers (ms; cpu = router + plugins per answered request; others = user CPU of the\n")
		fmt.Fprintf(w, "rest of the machine during the step, cores; rss after the step)\n")
		r.stepTable(w, "fixed", false)
		fmt.Fprintf(w, "\noverhead over direct (ms, p50 / p99 of the scheduled-time latency; in brackets the router's own\n")
		fmt.Fprintf(w, "x-switchyard-overhead-ms, p50 / p99)\n")
		tw := table(w)
		fmt.Fprintf(tw, "  system")
		for _, rate := range o.Rates {
			fmt.Fprintf(tw, "\t%.0f rps", rate)
		}
		fmt.Fprintf(tw, "\n")
		for _, s := range r.Systems {
			if s.Name == SysDirect || s.CompareOnly {
				continue
			}
			fmt.Fprintf(tw, "  %s", s.Name)
			for _, rate := range o.Rates {
				fmt.Fprintf(tw, "\t%s", r.overhead("fixed", s.Name, rate, false))
				if st := r.find("fixed", s.Name, rate); st != nil && st.Result.Reported.N > 0 {
					fmt.Fprintf(tw, " [%s / %s]", ms(st.Result.Reported.P50), ms(st.Result.Reported.P99))
				}
			}
			fmt.Fprintf(tw, "\n")
		}
		tw.Flush()
	}
	if o.StreamRate > 0 {
		fmt.Fprintf(w, "\nstreams at %.0f rps (ms; ttfb = first SSE data event; full = whole stream)\n", o.StreamRate)
		r.stepTable(w, "stream", true)
		fmt.Fprintf(w, "\nstreaming TTFB overhead over direct (ms, p50 / p99)\n")
		tw := table(w)
		for _, s := range r.Systems {
			if s.Name != SysDirect && !s.CompareOnly {
				fmt.Fprintf(tw, "  %s\t%s\n", s.Name, r.overhead("stream", s.Name, o.StreamRate, true))
			}
		}
		tw.Flush()
	}
	if o.Sustain {
		fmt.Fprintf(w, "\nsustained rate: highest of the ramp with p99 < %s ms, at most 1%% errors, at least 95%% of the rate achieved\n", ms(o.SustainP99))
		tw := table(w)
		for _, s := range r.Systems {
			res := r.Sustain[s.Name]
			if res == nil {
				continue
			}
			var tries []string
			for _, t := range res.Tried {
				mark := "ok"
				if !t.Pass {
					mark = "miss: " + t.Why
				}
				tries = append(tries, fmt.Sprintf("%.0f(p99 %s ms, %s)", t.Rate, ms(t.P99), mark))
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, sustainText(res), strings.Join(tries, " "))
		}
		tw.Flush()
	}

	r.printCompare(w)

	fmt.Fprintf(w, "\nmemory (RSS)\n")
	tw = table(w)
	if len(r.DefaultIdle) > 0 {
		fmt.Fprintf(tw, "  default config, idle\t%s\n", rssList(r.DefaultIdle, true))
	}
	for _, s := range r.Systems {
		if len(s.Idle) > 0 {
			fmt.Fprintf(tw, "  %s, idle\t%s\n", s.Name, rssList(s.Idle, true))
		}
	}
	for _, st := range r.Steps {
		if st.Kind == "sustain" && len(st.Procs) > 0 && r.lastSustain(st) {
			fmt.Fprintf(tw, "  %s after its last sustain step (%.0f rps)\t%s\n", st.System, st.Result.Rate, rssList(st.Procs, true))
		}
	}
	if so := r.StreamsOpen; so != nil {
		fmt.Fprintf(tw, "  %s (a fresh router), before the streams\t%s\n", SysSwitchyard, rssList(so.Before, false))
		fmt.Fprintf(tw, "  %s (a fresh router), %d streams open (%d opened, %d failed, %d completed after release)\t%s\n",
			SysSwitchyard, so.Wanted, so.Opened, so.Failed, so.Completed, rssList(so.Open, true))
	}
	tw.Flush()

	fmt.Fprintf(w, "\ntargets (switchyard-1rule: plugin hop + one rule, against direct; ledger and Redis rows: paired, against\n")
	fmt.Fprintf(w, "switchyard-1rule and switchyard-keys in the same run)\n")
	tw = table(w)
	fmt.Fprintf(tw, "  target\twant\tgot\t\n")
	for _, t := range r.Targets {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Name, t.Want, t.Got, t.Mark)
	}
	tw.Flush()
}

func (r *Report) stepTable(w io.Writer, kind string, stream bool) {
	tw := table(w)
	if stream {
		fmt.Fprintf(tw, "  system\trate\tachieved\tttfb p50\tttfb p90\tttfb p99\tttfb max\tfull p50\tfull p99\terrors\tcpu/req\tothers\trss MB\n")
	} else {
		fmt.Fprintf(tw, "  system\trate\tachieved\tp50\tp90\tp99\tmax\tp50 sent\tp99 sent\terrors\tcpu/req\tothers\trss MB\n")
	}
	for _, st := range r.Steps {
		if st.Kind != kind {
			continue
		}
		res := st.Result
		cpu := "-"
		if st.CPUPerRequest > 0 {
			cpu = ms(st.CPUPerRequest)
		}
		others := "-"
		if st.Others >= 0 {
			others = fmt.Sprintf("%.2f", st.Others)
		}
		rss := "-"
		if len(st.Procs) > 0 {
			rss = rssList(st.Procs, false)
		}
		name := st.System
		if st.Round > 0 {
			name = fmt.Sprintf("%s #%d", st.System, st.Round)
		}
		if stream {
			fmt.Fprintf(tw, "  %s\t%.0f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, res.Rate, res.Achieved,
				ms(res.TTFB.P50), ms(res.TTFB.P90), ms(res.TTFB.P99), ms(res.TTFB.Max), ms(res.Latency.P50), ms(res.Latency.P99),
				errText(res), cpu, others, rss)
		} else {
			fmt.Fprintf(tw, "  %s\t%.0f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, res.Rate, res.Achieved,
				ms(res.Latency.P50), ms(res.Latency.P90), ms(res.Latency.P99), ms(res.Latency.Max),
				ms(res.LatencyActual.P50), ms(res.LatencyActual.P99), errText(res), cpu, others, rss)
		}
	}
	tw.Flush()
	for _, st := range r.Steps {
		if st.Kind == kind && st.Result.FirstError != "" {
			fmt.Fprintf(w, "  %s at %.0f rps, first transport error: %s\n", st.System, st.Result.Rate, st.Result.FirstError)
		}
	}
}

// find returns the step of kind for system at rate.
func (r *Report) find(kind, system string, rate float64) *StepReport {
	for i := range r.Steps {
		st := &r.Steps[i]
		if st.Kind == kind && st.System == system && st.Result.Rate == rate {
			return st
		}
	}
	return nil
}

// overheads returns the p50 and p99 differences (system − direct) of the
// latency (or of the TTFB), and whether both steps exist with answers.
func (r *Report) overheads(kind, system string, rate float64, ttfb bool) (p50, p99 time.Duration, ok bool) {
	a, b := r.find(kind, SysDirect, rate), r.find(kind, system, rate)
	if a == nil || b == nil || a.Result.OK == 0 || b.Result.OK == 0 {
		return 0, 0, false
	}
	sa, sb := a.Result.Latency, b.Result.Latency
	if ttfb {
		sa, sb = a.Result.TTFB, b.Result.TTFB
	}
	return sb.P50 - sa.P50, sb.P99 - sa.P99, true
}

func (r *Report) overhead(kind, system string, rate float64, ttfb bool) string {
	p50, p99, ok := r.overheads(kind, system, rate, ttfb)
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%+.3f / %+.3f", msf(p50), msf(p99))
}

func (r *Report) lastSustain(st StepReport) bool {
	res := r.Sustain[st.System]
	return res != nil && len(res.Tried) > 0 && res.Tried[len(res.Tried)-1].Rate == st.Result.Rate
}

// targets judges the goals from a report.
func targets(r *Report) []Target {
	var out []Target
	add := func(name, want, got string, pass, known bool) {
		mark := "n/a"
		switch {
		case known && pass:
			mark = "PASS"
		case known:
			mark = "MISS"
		}
		if got == "" {
			got = "not measured"
		}
		out = append(out, Target{Name: name, Want: want, Got: got, Mark: mark})
	}
	p50, p99, ok := r.overheads("fixed", SysSwitchyard, 1000, false)
	add("p50 overhead at 1,000 rps, whole answers", "<= 0.25 ms", msOK(p50, ok), p50 <= 250*time.Microsecond, ok)
	add("p99 overhead at 1,000 rps, whole answers", "<= 2 ms", msOK(p99, ok), p99 <= 2*time.Millisecond, ok)
	st := r.find("fixed", SysSwitchyard, 1000)
	cpuOK := st != nil && st.CPUPerRequest > 0
	var cpu time.Duration
	if cpuOK {
		cpu = st.CPUPerRequest
	}
	add("CPU per request, host + plugin, at 1,000 rps", "<= 0.3 ms", msOK(cpu, cpuOK), cpu <= 300*time.Microsecond, cpuOK)
	res := r.Sustain[SysSwitchyard]
	got := ""
	if res != nil {
		got = sustainText(res)
	}
	add("sustained rate with p99 < 50 ms", ">= 4,000 rps", got, res != nil && res.Max >= 4000, res != nil)
	t50, _, ok := r.overheads("stream", SysSwitchyard, r.Options.StreamRate, true)
	add(fmt.Sprintf("streaming TTFB overhead p50 at %.0f rps", r.Options.StreamRate), "<= 0.5 ms", msOK(t50, ok), t50 <= 500*time.Microsecond, ok)
	host := rssOf(r.DefaultIdle, "switchyard")
	add("host RSS idle, default config", "<= 60 MB", mbOK(host), host <= 60*1024, host > 0)
	var open int64
	name := "host RSS with open streams"
	if so := r.StreamsOpen; so != nil {
		open = rssOf(so.Open, "switchyard")
		name = fmt.Sprintf("host RSS with %d streams open", so.Opened)
	}
	// Judged only with at least the 1,000 streams open.
	enough := r.StreamsOpen != nil && r.StreamsOpen.Opened >= 1000
	add(name, "<= 150 MB", mbOK(open), open <= 150*1024, open > 0 && enough)
	plugins := map[string]int64{}
	for _, p := range r.DefaultIdle {
		if p.Name != "switchyard" {
			plugins[p.Name] = p.RSSKB
		}
	}
	for _, s := range r.Systems {
		for _, p := range s.Idle {
			if _, seen := plugins[p.Name]; !seen && p.Name != "switchyard" {
				plugins[p.Name] = p.RSSKB
			}
		}
	}
	if len(plugins) == 0 {
		add("plugin RSS idle", "<= 30 MB each", "", false, false)
	}
	for _, n := range slices.Sorted(maps.Keys(plugins)) {
		add("plugin RSS idle: "+shortName(n), "<= 30 MB", mb(plugins[n]), plugins[n] <= 30*1024, true)
	}
	compareTargets(r, add)
	return out
}

func sustainText(res *SustainResult) string {
	switch {
	case res.Max == 0:
		return "< ramp start"
	case res.Capped:
		return fmt.Sprintf(">= %.0f rps (ramp end)", res.Max)
	}
	return fmt.Sprintf("%.0f rps", res.Max)
}

func errText(r StepResult) string {
	n := r.ErrorCount()
	if n == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.Errors[k]))
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))
}

// rssList is "switchyard 41.2, openai 19.8" (MB), with peaks when asked.
func rssList(procs []Proc, peak bool) string {
	var parts []string
	for _, p := range procs {
		s := fmt.Sprintf("%s %.1f", shortName(p.Name), float64(p.RSSKB)/1024)
		if peak {
			s += fmt.Sprintf(" (peak %.1f)", float64(p.HWMKB)/1024)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func rssOf(procs []Proc, name string) int64 {
	for _, p := range procs {
		if p.Name == name {
			return p.RSSKB
		}
	}
	return 0
}

func shortName(n string) string { return strings.TrimPrefix(n, "switchyard-provider-") }

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", msf(d)) }

func mb(kb int64) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }

// msOK and mbOK print nothing for a value that was not measured.
func msOK(d time.Duration, ok bool) string {
	if !ok {
		return ""
	}
	return fmt.Sprintf("%.3f ms", msf(d))
}

func mbOK(kb int64) string {
	if kb <= 0 {
		return ""
	}
	return mb(kb)
}
