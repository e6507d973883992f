package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSlowReadersFreeTheirSlots: clients that send a streaming request and then never read
// cannot hold the router's admission slots. With max_inflight: 3 and no queue, three such
// clients take every slot; once a write to each has waited timeouts.client_write, their
// requests end (the upstream streams are cancelled) and a fourth client is served.
func TestSlowReadersFreeTheirSlots(t *testing.T) {
	r := startRouter(t, baseConfig(t, "limits: {max_inflight: 3, max_queue: 0}\ntimeouts: {client_write: 500ms}\n"))

	// A long answer sent as fast as the mock can: ~100,000 one-word events, far more than
	// the socket buffers between the router and a client that does not read.
	body := fmt.Sprintf(`{"model":"mock-small","stream":true,"messages":[{"role":"user","content":"hi"}],`+
		`"metadata":{"mock.reply":%q,"mock.chunk_delay_ms":"0"}}`, strings.Repeat("w ", 100_000))
	addr := strings.TrimPrefix(r.base, "http://")
	dialer := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		// A small receive buffer (set before connecting, so the window stays small) fills
		// at once: the router's writes then block.
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	for i := 0; i < 3; i++ {
		conn, err := dialer.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		req := fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body)
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		// ...and never read.
	}
	waitFor(t, "the three stalled streams to take every slot", patience, func() bool {
		v, ok := r.metric("switchyard_active_requests")
		return ok && v == 3
	})

	// A fourth client is shed while the slots are held, then served once the stalled
	// requests have ended.
	chat := `{"model":"default","messages":[{"role":"user","content":"hello"}]}`
	waitFor(t, "the fourth client to be served (clients that stopped reading hold every slot)", patience, func() bool {
		status, _, b := r.post("/v1/chat/completions", chat)
		if status != http.StatusOK && status != http.StatusTooManyRequests {
			t.Fatalf("fourth client: status %d: %s", status, b)
		}
		return status == http.StatusOK
	})
	waitFor(t, "switchyard_active_requests back to 0", patience, func() bool {
		v, ok := r.metric("switchyard_active_requests")
		return ok && v == 0
	})
}
