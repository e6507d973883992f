package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-llm/switchyard/host/ledger"
)

const ledgerAdminKey = "e2e-admin-key-0123456789"

// call sends method path with body and the bearer key ("" none); status and body.
func (r *router) call(method, path, body, key string) (int, http.Header, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func chatBody(model, text string) string {
	return `{"model":"` + model + `","messages":[{"role":"user","content":"` + text + `"}]}`
}

// ledgerRows is how many rows /admin/requests lists (up to 1000).
func (r *router) ledgerRows() int {
	r.t.Helper()
	code, _, b := r.call("GET", "/admin/requests?limit=1000", "", ledgerAdminKey)
	if code != 200 {
		r.t.Fatalf("/admin/requests: %d %s", code, b)
	}
	var v struct{ Data []json.RawMessage }
	if err := json.Unmarshal(b, &v); err != nil {
		r.t.Fatal(err)
	}
	return len(v.Data)
}

// countRows opens the SQLite ledger at path and counts its rows.
func countRows(t *testing.T, path string) int {
	t.Helper()
	db, err := ledger.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Requests(context.Background(), ledger.RequestQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

// TestLedger: every request becomes a row the admin API shows, in usage and in the
// request list, with the rule input when record_inputs asks; virtual keys made through
// the API are enforced (RPM, budget, models) and refused once revoked; the admin routes
// need the admin key.
func TestLedger(t *testing.T) {
	dir := t.TempDir()
	cfg := baseConfig(t, `
rules:
  - name: tiered
    module: `+built(t, "rules/tiered.wasm")+`
    deadline: 1s
admin: {key: `+ledgerAdminKey+`}
ledger: {url: "sqlite:`+filepath.Join(dir, "ledger.db")+`", interval: 100ms, record_inputs: all}
`)
	r := startRouter(t, cfg)
	for i := range 3 {
		if code, _, b := r.call("POST", "/v1/chat/completions", chatBody("default", fmt.Sprint("hi ", i)), ""); code != 200 {
			t.Fatalf("request %d: %d %s", i, code, b)
		}
	}
	// A refused request is a row too.
	if code, _, _ := r.call("POST", "/v1/chat/completions", chatBody("no-such-model", "x"), ""); code != 404 {
		t.Fatalf("unknown model: %d", code)
	}
	waitFor(t, "4 ledger rows", 30*time.Second, func() bool { return r.ledgerRows() >= 4 })

	code, _, b := r.call("GET", "/admin/usage?group_by=route", "", ledgerAdminKey)
	if code != 200 {
		t.Fatalf("/admin/usage: %d %s", code, b)
	}
	var usage struct {
		Data []ledger.UsageBucket
	}
	if err := json.Unmarshal(b, &usage); err != nil {
		t.Fatal(err)
	}
	got := map[string]ledger.UsageBucket{}
	for _, u := range usage.Data {
		got[u.Group] = u
	}
	if d := got["default"]; d.Requests != 3 || d.Errors != 0 || d.TokensIn == 0 {
		t.Errorf("usage of default: %+v (%s)", d, b)
	}
	if u := got["no-such-model"]; u.Requests != 1 || u.Errors != 1 {
		t.Errorf("usage of the unknown model: %+v", u)
	}
	code, _, b = r.call("GET", "/admin/requests?status=2xx&limit=1", "", ledgerAdminKey)
	var list struct {
		Data []struct {
			ID, Rule, Model, Route string
			Targets                []string
			Status                 int
		}
	}
	if err := json.Unmarshal(b, &list); err != nil || code != 200 || len(list.Data) != 1 {
		t.Fatalf("/admin/requests: %d %s", code, b)
	}
	row := list.Data[0]
	if !strings.HasPrefix(row.Rule, "tiered@") || row.Model == "" || row.Route != "default" || len(row.Targets) == 0 {
		t.Errorf("a row: %+v", row)
	}
	code, _, b = r.call("GET", "/admin/requests/"+row.ID, "", ledgerAdminKey)
	if code != 200 || !strings.Contains(string(b), `"rule_input":{"abi":1`) || !strings.Contains(string(b), `"trace":{`) {
		t.Errorf("/admin/requests/{id} without the rule input and trace: %d %.400s", code, b)
	}
	if code, _, _ := r.call("GET", "/admin/requests/nope", "", ledgerAdminKey); code != 404 {
		t.Errorf("an unknown id: %d", code)
	}
	for _, path := range []string{"/admin/usage", "/admin/requests", "/admin/keys"} {
		if code, _, _ := r.call("GET", path, "", ""); code != 401 {
			t.Errorf("%s without the admin key: %d", path, code)
		}
		if code, _, _ := r.call("GET", path, "", "wrong-admin-key-000"); code != 401 {
			t.Errorf("%s with a wrong admin key: %d", path, code)
		}
	}
	if code, _, b := r.call("GET", "/admin/usage?group_by=colour", "", ledgerAdminKey); code != 400 || !strings.Contains(string(b), "group_by") {
		t.Errorf("a bad group_by: %d %s", code, b)
	}

	// A virtual key with an RPM limit.
	code, _, b = r.call("POST", "/admin/keys", `{"name":"rpm2","team":"t1","models":["default"],"limits":{"rpm":2}}`, ledgerAdminKey)
	if code != 201 {
		t.Fatalf("POST /admin/keys: %d %s", code, b)
	}
	var made struct{ Secret, Hint, Team string }
	if err := json.Unmarshal(b, &made); err != nil || !strings.HasPrefix(made.Secret, "sk-sy-") || made.Team != "t1" {
		t.Fatalf("the created key: %s", b)
	}
	if code, _, b := r.call("POST", "/admin/keys", `{"name":"rpm2"}`, ledgerAdminKey); code != 409 {
		t.Errorf("the same name again: %d %s", code, b)
	}
	if code, _, b := r.call("POST", "/admin/keys", `{"name":"x","colour":"red"}`, ledgerAdminKey); code != 400 {
		t.Errorf("an unknown field: %d %s", code, b)
	}
	// Once a key exists, requests need one.
	if code, _, _ := r.call("POST", "/v1/chat/completions", chatBody("default", "no key"), ""); code != 401 {
		t.Errorf("no key while a virtual key exists: %d", code)
	}
	var codes []int
	var last []byte
	var retry string
	for range 3 {
		code, h, b := r.call("POST", "/v1/chat/completions", chatBody("default", "x"), made.Secret)
		codes, last, retry = append(codes, code), b, h.Get("Retry-After")
	}
	if fmt.Sprint(codes) != "[200 200 429]" || !strings.Contains(string(last), "rate_limited") || retry == "" {
		t.Errorf("rpm 2: %v %s (Retry-After %q)", codes, last, retry)
	}
	if code, _, _ := r.call("POST", "/v1/chat/completions", chatBody("mock-large", "x"), made.Secret); code != 403 {
		t.Errorf("a model the key may not use: %d", code)
	}
	// A budget the first request spends.
	code, _, b = r.call("POST", "/admin/keys", `{"name":"tiny","budget":{"usd":0.0000001,"period":"day"}}`, ledgerAdminKey)
	if code != 201 {
		t.Fatalf("POST /admin/keys budget: %d %s", code, b)
	}
	var tiny struct{ Secret string }
	_ = json.Unmarshal(b, &tiny)
	if code, _, b := r.call("POST", "/v1/chat/completions", chatBody("mock-small", "spend"), tiny.Secret); code != 200 {
		t.Fatalf("the budget's first request: %d %s", code, b)
	}
	waitFor(t, "the budget spent", 30*time.Second, func() bool {
		code, h, b := r.call("POST", "/v1/chat/completions", chatBody("mock-small", "again"), tiny.Secret)
		if code == 200 {
			return false
		}
		if code != 429 || !strings.Contains(string(b), "budget_exceeded") || h.Get("Retry-After") == "" {
			t.Fatalf("over budget: %d %s (Retry-After %q)", code, b, h.Get("Retry-After"))
		}
		return true
	})
	// Revoked: refused at once on this replica.
	if code, _, b := r.call("DELETE", "/admin/keys/rpm2", "", ledgerAdminKey); code != 200 {
		t.Fatalf("DELETE: %d %s", code, b)
	}
	if code, _, b := r.call("POST", "/v1/chat/completions", chatBody("default", "x"), made.Secret); code != 401 || !strings.Contains(string(b), "revoked") {
		t.Errorf("a revoked key: %d %s", code, b)
	}
	code, _, b = r.call("GET", "/admin/keys", "", ledgerAdminKey)
	if code != 200 || strings.Contains(string(b), made.Secret) || strings.Contains(string(b), `"rpm2"`) {
		t.Errorf("GET /admin/keys: %d %s", code, b)
	}
	if strings.Contains(r.log.String(), made.Secret) || strings.Contains(r.log.String(), tiny.Secret) {
		t.Error("a key's secret is in the log")
	}
}

// TestLedgerShutdown: SIGTERM writes every queued row; SIGKILL loses at most the rows
// that had not reached a full batch or a flush interval. With interval 1h and batch 10,
// 25 requests make two written batches and five queued rows: after SIGKILL the database
// holds exactly the 20 written ones.
func TestLedgerShutdown(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		want int
	}{{syscall.SIGTERM, 25}, {syscall.SIGKILL, 20}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.db")
			p := launch(t, baseConfig(t, `
admin: {key: `+ledgerAdminKey+`}
ledger: {url: "sqlite:`+path+`", interval: 1h, batch: 10}
`), nil)
			for i := range 25 {
				if code, _, b := p.call("POST", "/v1/chat/completions", chatBody("default", fmt.Sprint(i)), ""); code != 200 {
					t.Fatalf("request %d: %d %s", i, code, b)
				}
			}
			waitFor(t, "two full batches written", 30*time.Second, func() bool { return p.ledgerRows() >= 20 })
			if err := p.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.done:
			case <-time.After(60 * time.Second):
				t.Fatal("the router did not exit")
			}
			if n := countRows(t, path); n != tc.want {
				t.Errorf("after %s the ledger holds %d rows, want %d", tc.sig, n, tc.want)
			}
		})
	}
}
