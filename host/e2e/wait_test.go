package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// patience is how long a test waits for something that normally takes milliseconds: a
// process to exit, a counter to move, an upstream to see a cancellation. It bounds only how
// long a broken build takes to fail; these tests never judge how fast something happened
// (a shared, loaded 2-core machine can be slow at anything), only that it happened.
const patience = 30 * time.Second

// circuitOf returns the circuit state ("closed", "half_open", "open") that the dry run
// reports for the first target of a request for model.
func (r *router) circuitOf(t testing.TB, model string) string {
	t.Helper()
	status, _, body := r.post("/v1/switchyard/route", `{"model":"`+model+`","messages":[{"role":"user","content":"x"}]}`)
	var d struct {
		Targets []struct{ Circuit string } `json:"targets"`
	}
	if err := json.Unmarshal(body, &d); err != nil || status != 200 || len(d.Targets) == 0 {
		t.Fatalf("dry run for %s: %d %s", model, status, body)
	}
	return d.Targets[0].Circuit
}

// sumSeries adds up the series of the metric family name in /metrics whose labels include
// every one of labels (each written `key="value"`); -1 when /metrics cannot be read.
func sumSeries(r *router, name string, labels ...string) float64 {
	resp, err := http.Get(r.base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	total := 0.0
next:
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+"{") {
			set, _, _ := strings.Cut(line[len(name)+1:], "}")
			set = "," + set + ","
			for _, l := range labels {
				if !strings.Contains(set, ","+l+",") {
					continue next
				}
			}
			if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
				total += v
			}
		}
	}
	return total
}
