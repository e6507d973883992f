package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCircuitOpens makes one target fail until its circuit opens: it is then skipped
// without a call, shows as open in metrics and the dry run, and a request whose only
// target is open gets 503 no_route with Retry-After without waiting for the circuit. Once
// the cool-down has passed, a probe closes it again.
//
// The circuit opens with a cool-down of an hour, so that however slowly this machine runs
// the checks of the open state, the circuit cannot half-open under them; the cool-down is
// then shortened by a reload (breakers keep their state across reloads), and the test polls
// the dry run until the circuit reports half_open instead of sleeping for the cool-down.
func TestCircuitOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchyard.yaml")
	write := func(coolDown string) {
		cfg := baseConfig(t, "circuit: {failure_threshold: 2, cool_down: "+coolDown+"}\n")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("1h")
	r := startRouterAt(t, path)
	// Calls that reached the mock's mock-small, whatever their outcome.
	calls := func() float64 {
		return sumSeries(r, `switchyard_provider_requests_total`, `model="mock-small"`, `provider="mock"`)
	}
	failing := `{"model":"default","messages":[{"role":"user","content":"x"}],"metadata":{"mock.fail":"upstream_unavailable","mock.fail_instances":"mock"}}`
	status, h, body := r.post("/v1/chat/completions", failing)
	if status != 200 || h.Get("x-switchyard-provider") != "backup" {
		t.Fatalf("first request: %d %s %s", status, h.Get("x-switchyard-provider"), body)
	}
	if v, _ := r.metric(`switchyard_circuit_open{model="mock-small",provider="mock"}`); v != 1 {
		t.Fatalf("switchyard_circuit_open{mock,mock-small} = %v, want 1", v)
	}
	opened := calls()
	if opened < 1 {
		t.Fatalf("the failed calls to mock-small were not counted (%v): the check below would prove nothing", opened)
	}
	// Skipped without a call: one attempt, on backup.
	status, h, _ = r.post("/v1/chat/completions", `{"model":"default","messages":[{"role":"user","content":"x"}]}`)
	if status != 200 || h.Get("x-switchyard-provider") != "backup" || h.Get("x-switchyard-attempts") != "1" {
		t.Errorf("with mock-small open: %d from %s after %s attempts", status, h.Get("x-switchyard-provider"), h.Get("x-switchyard-attempts"))
	}
	_, _, body = r.post("/v1/switchyard/route", `{"model":"default","messages":[{"role":"user","content":"x"}]}`)
	var d struct {
		Targets []struct{ Model, Circuit string } `json:"targets"`
	}
	if err := json.Unmarshal(body, &d); err != nil || len(d.Targets) != 2 || d.Targets[0].Circuit != "open" || d.Targets[1].Circuit != "closed" {
		t.Errorf("dry run does not show the circuits: %s", body)
	}
	// The only target is open: refused without a call to it (the request does not wait
	// for the hour-long cool-down, or it would not have come back at all).
	status, h, body = r.post("/v1/chat/completions", `{"model":"mock-small","messages":[{"role":"user","content":"x"}]}`)
	if status != 503 || !strings.Contains(string(body), `"code":"no_route"`) || h.Get("Retry-After") == "" || h.Get("x-switchyard-attempts") != "0" {
		t.Errorf("only target open: %d %s Retry-After %q attempts %q", status, body, h.Get("Retry-After"), h.Get("x-switchyard-attempts"))
	}
	if n := calls(); n != opened {
		t.Errorf("%v calls reached mock-small while its circuit was open", n-opened)
	}

	// After the cool-down a probe closes it again.
	write("100ms")
	if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the circuit to half-open after the shortened cool-down", patience, func() bool {
		return r.circuitOf(t, "mock-small") == "half_open"
	})
	status, h, _ = r.post("/v1/chat/completions", `{"model":"mock-small","messages":[{"role":"user","content":"x"}]}`)
	if status != 200 || h.Get("x-switchyard-provider") != "mock" {
		t.Fatalf("probe after cool-down: %d", status)
	}
	if v, _ := r.metric(`switchyard_circuit_open{model="mock-small",provider="mock"}`); v != 0 {
		t.Errorf("circuit still reported open after a good probe")
	}
	if got := r.circuitOf(t, "mock-small"); got != "closed" {
		t.Errorf("dry run reports the circuit %s after a good probe, want closed", got)
	}
}

// TestStreamStall cuts a stream whose upstream goes silent after its first words: the
// client gets the words, then an in-band error naming timeouts.stream_idle, and no [DONE].
// The stalled mock never resumes and every other limit is far longer than stream_idle, so
// the stream can only end through the idle cut (a broken one fails on timeouts.total).
func TestStreamStall(t *testing.T) {
	r := startRouter(t, baseConfig(t, "timeouts: {stream_idle: 1s, attempt: 1m, total: 1m}\n"))
	start := time.Now()
	status, _, body := r.post("/v1/chat/completions", `{"model":"default","stream":true,"messages":[{"role":"user","content":"tell me a story"}],
		"metadata":{"mock.fail":"stall","mock.fail_after_chunks":"2"}}`)
	t.Logf("the stall was cut after %s", time.Since(start))
	s := string(body)
	if status != 200 || strings.Count(s, `"content":`) < 1 {
		t.Fatalf("status %d: %s", status, s)
	}
	if strings.Contains(s, "[DONE]") || !strings.Contains(s, `data: {"error":{`) {
		t.Errorf("a stalled stream must end with an in-band error and no [DONE]:\n%s", s)
	}
	if !strings.Contains(s, "stream_idle") {
		t.Errorf("the in-band error does not say the stream was idle for too long:\n%s", s)
	}
}

// TestStreamValidationHoldback holds a streamed answer back until it can be judged: an
// answer that is not the JSON the client asked for falls back before the first byte, and
// the client sees one clean stream from the next target.
func TestStreamValidationHoldback(t *testing.T) {
	r := startRouter(t, baseConfig(t, "validation: {stream_holdback: 4000}\n"))
	status, h, body := r.post("/v1/chat/completions", `{"model":"default","stream":true,"response_format":{"type":"json_object"},
		"messages":[{"role":"user","content":"give me json"}],"metadata":{"mock.fail":"not_json","mock.fail_instances":"mock"}}`)
	s := string(body)
	if status != 200 || h.Get("x-switchyard-provider") != "backup" || h.Get("x-switchyard-fallbacks") != "1" {
		t.Fatalf("%d from %q (fallbacks %s): %s", status, h.Get("x-switchyard-provider"), h.Get("x-switchyard-fallbacks"), s)
	}
	if strings.Contains(s, "Sure!") || !strings.HasSuffix(s, "data: [DONE]\n\n") {
		t.Errorf("the refused answer leaked or the stream is not clean:\n%s", s)
	}
	if v, _ := r.metric(`switchyard_validation_failures_total{provider="mock",validator="json"}`); v != 1 {
		t.Errorf("validation_failures{json,mock} = %v, want 1", v)
	}
	// Without hold-back the same answer is committed on its first word and cannot be replaced.
	r2 := startRouter(t, baseConfig(t, ""))
	_, h, _ = r2.post("/v1/chat/completions", `{"model":"default","stream":true,"response_format":{"type":"json_object"},
		"messages":[{"role":"user","content":"give me json"}],"metadata":{"mock.fail":"not_json","mock.fail_instances":"mock"}}`)
	if h.Get("x-switchyard-provider") != "mock" {
		t.Errorf("without hold-back the stream should have been committed to mock")
	}
	// A whole (non-streamed) answer is always judged.
	status, h, _ = r2.post("/v1/chat/completions", `{"model":"default","response_format":{"type":"json_object"},
		"messages":[{"role":"user","content":"give me json"}],"metadata":{"mock.fail":"not_json","mock.fail_instances":"mock"}}`)
	if status != 200 || h.Get("x-switchyard-provider") != "backup" {
		t.Errorf("a whole answer that is not JSON was not replaced: %d from %s", status, h.Get("x-switchyard-provider"))
	}
}
