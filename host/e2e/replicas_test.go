package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/host/internal/testservers"
	"github.com/switchyard-llm/switchyard/host/ledger"
)

// The config keys of TestReplicas, one per check so that each check counts only its own
// requests in the shared ledger.
const (
	replicaRPMKey    = "sk-replicas-rpm-0123456789"
	replicaBudgetKey = "sk-replicas-budget-0123456789"
	replicaPlainKey  = "sk-replicas-plain-0123456789"
	replicaLoadKey   = "sk-replicas-load-0123456789"
	replicaPGKey     = "sk-replicas-pg-0123456789"
)

// replicaConfig is the one config the three replicas share: one Postgres ledger, one
// Redis, keys with a limit and a budget, and a breaker whose cool-down of an hour cannot
// half-open under the test however slowly it runs.
func replicaConfig(t *testing.T, pgURL, redisURL string) string {
	cfg := baseConfig(t, fmt.Sprintf(`
admin: {key: %s}
ledger: {url: %q, interval: 50ms}
state: {url: %q}
circuit: {failure_threshold: 2, cool_down: 1h}
keys:
  - {name: rpm, key: %s, limits: {rpm: 30}}
  - {name: budget, key: %s, budget: {usd: 0.000001, period: day}}
  - {name: plain, key: %s}
  - {name: load, key: %s}
  - {name: pg, key: %s}
`, ledgerAdminKey, pgURL, redisURL, replicaRPMKey, replicaBudgetKey, replicaPlainKey, replicaLoadKey, replicaPGKey))
	// A route with a response cache, on mock-large: the circuit check opens mock-small's.
	return strings.Replace(cfg, "routes:\n", "routes:\n  - {name: cached, targets: [mock-large], cache: {ttl: 1h}}\n", 1)
}

// ledgerRequests is how many rows the ledger at url holds for key.
func ledgerRequests(t *testing.T, url, key string) int64 {
	t.Helper()
	db, err := ledger.OpenPostgres(ctx(t), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	buckets, err := db.Usage(ctx(t), ledger.UsageQuery{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, b := range buckets {
		n += b.Requests
	}
	return n
}

// errorCode is the code of an OpenAI error envelope ("" for anything else).
func errorCode(b []byte) string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	return e.Error.Code
}

// circuitWith is the dry run's circuit state of model's first target, asked with key.
func (r *router) circuitWith(key, model string) string {
	r.t.Helper()
	code, _, b := r.call("POST", "/v1/switchyard/route", chatBody(model, "x"), key)
	var d struct {
		Targets []struct{ Circuit string } `json:"targets"`
	}
	if err := json.Unmarshal(b, &d); err != nil || code != 200 || len(d.Targets) == 0 {
		r.t.Fatalf("dry run for %s: %d %s", model, code, b)
	}
	return d.Targets[0].Circuit
}

// load sends chat requests with key to r from workers goroutines until stop is closed,
// counting the answers by status and the requests that got no answer at all.
type load struct {
	answered, failed atomic.Int64
	wg               sync.WaitGroup
}

func startLoad(r *router, key string, workers int, stop <-chan struct{}) *load {
	l := &load{}
	client := &http.Client{}
	for w := range workers {
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("POST", r.base+"/v1/chat/completions", strings.NewReader(chatBody("default", fmt.Sprint("load ", w, " ", i))))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := client.Do(req)
				if err != nil {
					l.failed.Add(1)
					continue
				}
				resp.Body.Close()
				l.answered.Add(1)
			}
		})
	}
	return l
}

// TestReplicas runs three routers on one Postgres ledger and one Redis: a key's RPM is one
// limit across them, a budget spent through one is spent on all, a circuit opened on one
// is open on all; a Postgres restart under load loses no row, nor does SIGTERM.
func TestReplicas(t *testing.T) {
	pg := testservers.StartPostgres(t)
	rd := testservers.StartRedis(t)
	cfg := replicaConfig(t, pg.URL, rd.URL)
	// One after the other: the first applies the ledger's migrations.
	var reps []*proc
	for range 3 {
		reps = append(reps, launch(t, cfg, nil))
	}

	t.Run("one rpm limit across replicas", func(t *testing.T) {
		// 90 requests, 30 to each replica, 3 at a time on each: a per-replica limit
		// would let all 90 through, a shared one exactly 30.
		var ok, limited, other atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for i := range 9 {
			r := reps[i%3].router
			wg.Go(func() {
				for j := range 10 {
					code, h, b := r.call("POST", "/v1/chat/completions", chatBody("default", fmt.Sprint("rpm ", i, " ", j)), replicaRPMKey)
					switch {
					case code == 200:
						ok.Add(1)
					case code == 429 && errorCode(b) == "rate_limited" && h.Get("Retry-After") != "":
						limited.Add(1)
					default:
						other.Add(1)
						t.Errorf("request %d/%d: %d %s", i, j, code, b)
					}
				}
			})
		}
		wg.Wait()
		if took := time.Since(start); took >= time.Minute {
			// The window is a sliding minute: past it, early requests no longer count.
			t.Fatalf("90 requests took %s, longer than the window they test", took)
		}
		if ok.Load() != 30 || limited.Load() != 60 {
			t.Errorf("%d answered and %d rate limited (%d other), want exactly 30 and 60", ok.Load(), limited.Load(), other.Load())
		}
	})

	t.Run("budget spent through one replica is spent on all", func(t *testing.T) {
		// One answer costs more than the budget: once replica 0 has added its cost to
		// the shared counter it refuses the key, and so must the others, at once.
		var refused bool
		for i := range 5 {
			code, _, b := reps[0].call("POST", "/v1/chat/completions", chatBody("default", fmt.Sprint("budget ", i)), replicaBudgetKey)
			if code == 429 && errorCode(b) == "budget_exceeded" {
				refused = true
				break
			}
			if code != 200 {
				t.Fatalf("request %d through replica 0: %d %s", i, code, b)
			}
		}
		if !refused {
			t.Fatal("replica 0 never refused the exhausted budget")
		}
		for i, r := range reps[1:] {
			code, h, b := r.call("POST", "/v1/chat/completions", chatBody("default", "budget"), replicaBudgetKey)
			if code != 429 || errorCode(b) != "budget_exceeded" || h.Get("Retry-After") == "" {
				t.Errorf("replica %d: %d %s (Retry-After %q), want 429 budget_exceeded", i+1, code, b, h.Get("Retry-After"))
			}
		}
	})

	t.Run("circuit opened on one replica is open on all", func(t *testing.T) {
		failing := `{"model":"default","messages":[{"role":"user","content":"x"}],"metadata":{"mock.fail":"upstream_unavailable","mock.fail_instances":"mock"}}`
		code, h, b := reps[0].call("POST", "/v1/chat/completions", failing, replicaPlainKey)
		if code != 200 || h.Get("x-switchyard-provider") != "backup" {
			t.Fatalf("failing request: %d from %q: %s", code, h.Get("x-switchyard-provider"), b)
		}
		if got := reps[0].circuitWith(replicaPlainKey, "mock-small"); got != "open" {
			t.Fatalf("replica 0 reports the circuit %s after two failures, want open", got)
		}
		for i, r := range reps[1:] {
			waitFor(t, fmt.Sprintf("the circuit open on replica %d", i+1), patience, func() bool {
				return r.circuitWith(replicaPlainKey, "mock-small") == "open"
			})
			if v, _ := r.metric(`switchyard_circuit_open{model="mock-small",provider="mock"}`); v != 1 {
				t.Errorf("replica %d: switchyard_circuit_open{mock,mock-small} = %v, want 1", i+1, v)
			}
			// Open here too: skipped without a call, straight to backup.
			code, h, _ := r.call("POST", "/v1/chat/completions", chatBody("default", "after"), replicaPlainKey)
			if code != 200 || h.Get("x-switchyard-provider") != "backup" || h.Get("x-switchyard-attempts") != "1" {
				t.Errorf("replica %d with the circuit open: %d from %q after %s attempts", i+1, code, h.Get("x-switchyard-provider"), h.Get("x-switchyard-attempts"))
			}
		}
	})

	t.Run("an answer cached through one replica is a hit on the others", func(t *testing.T) {
		body := chatBody("cached", "same question")
		code, h, first := reps[0].call("POST", "/v1/chat/completions", body, replicaPlainKey)
		if code != 200 || h.Get("x-switchyard-cache") != "miss" {
			t.Fatalf("first request: %d %q %s", code, h.Get("x-switchyard-cache"), first)
		}
		waitFor(t, "the answer stored in Redis", patience, func() bool {
			v, _ := reps[0].metric(`switchyard_cache_stored_total{route="cached"}`)
			return v == 1
		})
		for i, r := range reps[1:] {
			code, h, b := r.call("POST", "/v1/chat/completions", body, replicaPlainKey)
			if code != 200 || h.Get("x-switchyard-cache") != "hit" || string(b) != string(first) {
				t.Errorf("replica %d: %d %q, want the same answer as a hit", i+1, code, h.Get("x-switchyard-cache"))
			}
			if v, _ := r.metric(`switchyard_cache_stored_total{route="cached"}`); v != 0 {
				t.Errorf("replica %d stored an answer of its own", i+1)
			}
		}
	})

	t.Run("a virtual key made on one replica works on all and is revoked on all", func(t *testing.T) {
		code, _, b := reps[0].call("POST", "/admin/keys", `{"name":"roaming","limits":{"rpm":1000}}`, ledgerAdminKey)
		var k struct{ Secret string }
		if err := json.Unmarshal(b, &k); err != nil || code != 201 || k.Secret == "" {
			t.Fatalf("POST /admin/keys: %d %s", code, b)
		}
		for i, r := range reps {
			waitFor(t, fmt.Sprintf("the new key accepted by replica %d", i), patience, func() bool {
				code, _, _ := r.call("POST", "/v1/chat/completions", chatBody("default", "roaming"), k.Secret)
				return code == 200
			})
		}
		if code, _, b := reps[0].call("DELETE", "/admin/keys/roaming", "", ledgerAdminKey); code != 200 && code != 204 {
			t.Fatalf("DELETE /admin/keys/roaming: %d %s", code, b)
		}
		// The registry polls the database's key version every 500 ms; the wait here is
		// only the test's patience, not that bound (no elapsed-time bounds in tests).
		for i, r := range reps {
			waitFor(t, fmt.Sprintf("the revoked key refused by replica %d", i), patience, func() bool {
				code, _, _ := r.call("POST", "/v1/chat/completions", chatBody("default", "revoked"), k.Secret)
				return code == 401
			})
		}
	})

	t.Run("postgres restart under load loses no row", func(t *testing.T) {
		stop := make(chan struct{})
		loads := []*load{startLoad(reps[0].router, replicaPGKey, 2, stop), startLoad(reps[1].router, replicaPGKey, 2, stop)}
		answered := func() int64 { return loads[0].answered.Load() + loads[1].answered.Load() }
		waitFor(t, "some answers before the restart", patience, func() bool { return answered() >= 20 })
		pg.Stop(t)
		before := answered()
		waitFor(t, "answers while Postgres is down", patience, func() bool { return answered() >= before+40 })
		// Rows were offered to the stopped store and refused: they wait in the queue.
		waitFor(t, "a refused ledger batch", patience, func() bool {
			v, _ := reps[0].metric("switchyard_ledger_write_errors_total")
			return v > 0
		})
		pg.Start(t)
		waitFor(t, "answers after the restart", patience, func() bool { return answered() >= before+80 })
		close(stop)
		for _, l := range loads {
			l.wg.Wait()
		}
		if f := loads[0].failed.Load() + loads[1].failed.Load(); f != 0 {
			t.Errorf("%d requests got no answer while Postgres restarted", f)
		}
		want := answered()
		waitFor(t, fmt.Sprintf("all %d rows in the ledger", want), patience, func() bool {
			return ledgerRequests(t, pg.URL, "pg") >= want
		})
		if got := ledgerRequests(t, pg.URL, "pg"); got != want {
			t.Errorf("the ledger holds %d rows for %d answers", got, want)
		}
	})

	t.Run("sigterm under load loses no row", func(t *testing.T) {
		p := reps[2]
		stop := make(chan struct{})
		l := startLoad(p.router, replicaLoadKey, 4, stop)
		waitFor(t, "load on replica 2", patience, func() bool { return l.answered.Load() >= 40 })
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.done:
		case <-time.After(2 * time.Minute):
			t.Fatal("replica 2 did not exit after SIGTERM")
		}
		close(stop)
		l.wg.Wait()
		// Every answer the clients got is a row; requests refused at the closed listener
		// got no answer and were never served.
		if got, want := ledgerRequests(t, pg.URL, "load"), l.answered.Load(); got != want {
			t.Errorf("after SIGTERM the ledger holds %d rows for %d answers", got, want)
		}
		if !strings.Contains(p.log.String(), "state: shared state answers") {
			t.Errorf("the replica never logged that the shared state answers")
		}
	})
}

// TestSharedStateOutage: with Redis down the router keeps serving on local state and says
// so in the log, state_up and /readyz; on_error: closed refuses limited keys with 503
// instead; when Redis answers again the router goes back to it.
func TestSharedStateOutage(t *testing.T) {
	rd := testservers.StartRedis(t)
	rd.Stop(t)
	keys := fmt.Sprintf(`
keys:
  - {name: rpm, key: %s, limits: {rpm: 1000}}
  - {name: plain, key: %s}
`, replicaRPMKey, replicaPlainKey)
	open := launch(t, baseConfig(t, fmt.Sprintf("state: {url: %q}\n", rd.URL)+keys), nil)
	closed := launch(t, baseConfig(t, fmt.Sprintf("state: {url: %q, on_error: closed}\n", rd.URL)+keys), nil)

	readyState := func(r *router) (up bool, detail string) {
		code, _, b := r.call("GET", "/readyz", "", "")
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil || code != 200 {
			t.Fatalf("/readyz: %d %s", code, b)
		}
		s, _ := v["state"].(map[string]any)
		if s == nil {
			if d, ok := v["detail"].(map[string]any); ok {
				s, _ = d["state"].(map[string]any)
			}
		}
		if s == nil {
			t.Fatalf("/readyz has no state detail: %s", b)
		}
		up, _ = s["up"].(bool)
		return up, string(b)
	}
	for name, r := range map[string]*router{"open": open.router, "closed": closed.router} {
		if up, b := readyState(r); up {
			t.Errorf("%s: /readyz says the state is up with Redis down: %s", name, b)
		}
		if v, ok := r.metric("switchyard_state_up"); !ok || v != 0 {
			t.Errorf("%s: switchyard_state_up = %v (present %v), want 0", name, v, ok)
		}
		if !strings.Contains(r.log.String(), "shared state unreachable") {
			t.Errorf("%s: no log line says the shared state is unreachable:\n%s", name, r.log.String())
		}
		if code, _, b := r.call("POST", "/v1/chat/completions", chatBody("default", "plain"), replicaPlainKey); code != 200 {
			t.Errorf("%s: a key without limits: %d %s", name, code, b)
		}
	}
	if code, _, b := open.call("POST", "/v1/chat/completions", chatBody("default", "x"), replicaRPMKey); code != 200 {
		t.Errorf("on_error open: a limited key: %d %s, want 200 on local counters", code, b)
	}
	code, h, b := closed.call("POST", "/v1/chat/completions", chatBody("default", "x"), replicaRPMKey)
	if code != 503 || errorCode(b) != "state_unavailable" || h.Get("Retry-After") == "" {
		t.Errorf("on_error closed: a limited key: %d %s (Retry-After %q), want 503 state_unavailable", code, b, h.Get("Retry-After"))
	}

	rd.Start(t)
	for name, r := range map[string]*router{"open": open.router, "closed": closed.router} {
		waitFor(t, name+": state_up back to 1", patience, func() bool {
			v, _ := r.metric("switchyard_state_up")
			return v == 1
		})
		if up, b := readyState(r); !up {
			t.Errorf("%s: /readyz says the state is down after Redis came back: %s", name, b)
		}
	}
	if code, _, b := closed.call("POST", "/v1/chat/completions", chatBody("default", "x"), replicaRPMKey); code != 200 {
		t.Errorf("on_error closed, Redis back: a limited key: %d %s", code, b)
	}
}
