package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Behavior is how the mock upstream answers. The zero value answers at once
// with a one-chunk, one-byte answer.
type Behavior struct {
	// Delay is waited before the answer's status line (whole answers) or
	// before its first chunk (streams).
	Delay time.Duration
	// ChunkDelay is waited between two chunks of a stream.
	ChunkDelay time.Duration
	// Chunks is the number of content chunks of a stream (at least 1).
	Chunks int
	// ContentBytes is the size of the assistant's content, split over the
	// chunks of a stream (at least 1).
	ContentBytes int
	// Hold, when not nil, stops every stream after its first chunk until Hold
	// is closed or the client goes away: a way to keep many streams open.
	Hold <-chan struct{}
}

// Upstream is a mock OpenAI-compatible server on 127.0.0.1: POST
// /v1/chat/completions (whole answers and SSE streams) and GET /v1/models.
// It serves until Close. Its behavior can be swapped while it serves
// (SetBehavior); a request keeps the behavior it started with.
type Upstream struct {
	ln       net.Listener
	srv      *http.Server
	state    atomic.Pointer[upstreamState]
	requests atomic.Int64
	done     chan struct{}
}

// upstreamState is one behavior with its answers rendered once per model.
type upstreamState struct {
	b       Behavior
	pieces  []string // content of each chunk
	content string
	mu      sync.Mutex
	byModel map[string]*rendered
}

// rendered holds the bytes of every answer for one model name.
type rendered struct {
	whole  []byte   // a chat.completion up to its usage (added per request)
	chunks [][]byte // "data: {...}\n\n" per content chunk (the first carries the role)
	finish []byte   // the chunk with finish_reason
	usage  []byte   // the usage chunk up to its usage (added per request)
}

// maxRenderedModels bounds the per-model cache; other models are rendered per request.
const maxRenderedModels = 16

// StartUpstream listens on 127.0.0.1 on a free port and serves b.
func StartUpstream(b Behavior) (*Upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("loadtest/upstream: listen: %w", err)
	}
	u := &Upstream{ln: ln, done: make(chan struct{})}
	u.SetBehavior(b)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", u.chat)
	mux.HandleFunc("GET /v1/models", u.models)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", r.Method+" "+r.URL.Path+" is not served by the mock upstream")
	})
	u.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		defer close(u.done)
		_ = u.srv.Serve(ln)
	}()
	return u, nil
}

// URL is the server's root, e.g. http://127.0.0.1:41234 (the API is under /v1).
func (u *Upstream) URL() string { return "http://" + u.ln.Addr().String() }

// Requests is the number of chat completions served so far.
func (u *Upstream) Requests() int64 { return u.requests.Load() }

// SetBehavior swaps the behavior for requests that start from now on.
func (u *Upstream) SetBehavior(b Behavior) {
	if b.Chunks < 1 {
		b.Chunks = 1
	}
	if b.ContentBytes < 1 {
		b.ContentBytes = 1
	}
	if b.ContentBytes < b.Chunks {
		b.ContentBytes = b.Chunks
	}
	st := &upstreamState{b: b, content: filler(b.ContentBytes), byModel: map[string]*rendered{}}
	per := b.ContentBytes / b.Chunks
	for i := range b.Chunks {
		end := (i + 1) * per
		if i == b.Chunks-1 {
			end = b.ContentBytes
		}
		st.pieces = append(st.pieces, st.content[i*per:end])
	}
	u.state.Store(st)
}

// Close stops the server at once, cutting open connections (held streams included).
func (u *Upstream) Close() error {
	err := u.srv.Close()
	<-u.done
	return err
}

// chatRequest is the part of a chat completion request the mock reads.
type chatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (u *Upstream) chat(w http.ResponseWriter, r *http.Request) {
	st := u.state.Load()
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return // the client went away
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "body is not JSON: "+err.Error())
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "model is required")
		return
	}
	u.requests.Add(1)
	rd := st.render(req.Model)
	promptTokens := len(body)/4 + 1
	if !sleepCtx(r.Context(), st.b.Delay) {
		return
	}
	if !req.Stream {
		out := make([]byte, 0, len(rd.whole)+64)
		out = append(out, rd.whole...)
		out = appendUsage(out, promptTokens, len(st.content)/4+1)
		out = append(out, "}\n"...)
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{strconv.Itoa(len(out))}
		_, _ = w.Write(out)
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"text/event-stream"}
	h["Cache-Control"] = []string{"no-cache"}
	flusher, _ := w.(http.Flusher)
	send := func(b []byte) bool {
		if _, err := w.Write(b); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	for i, c := range rd.chunks {
		if i > 0 && !sleepCtx(r.Context(), st.b.ChunkDelay) {
			return
		}
		if !send(c) {
			return
		}
		if i == 0 && st.b.Hold != nil {
			select {
			case <-st.b.Hold:
			case <-r.Context().Done():
				return
			}
		}
	}
	if !send(rd.finish) {
		return
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		out := make([]byte, 0, len(rd.usage)+64)
		out = append(out, rd.usage...)
		out = appendUsage(out, promptTokens, len(st.content)/4+1)
		out = append(out, "}\n\n"...)
		if !send(out) {
			return
		}
	}
	send([]byte("data: [DONE]\n\n"))
}

func (u *Upstream) models(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"bench-small","object":"model","created":1764000000,"owned_by":"loadtest"}]}`+"\n")
}

// render returns the answers for model, rendered once per model name.
func (st *upstreamState) render(model string) *rendered {
	st.mu.Lock()
	defer st.mu.Unlock()
	if rd, ok := st.byModel[model]; ok {
		return rd
	}
	m, _ := json.Marshal(model)
	head := `{"id":"chatcmpl-loadtest","object":"chat.completion.chunk","created":1764000000,"model":` + string(m)
	rd := &rendered{
		whole: []byte(`{"id":"chatcmpl-loadtest","object":"chat.completion","created":1764000000,"model":` + string(m) +
			`,"choices":[{"index":0,"message":{"role":"assistant","content":"` + st.content +
			`"},"finish_reason":"stop"}],`),
		finish: []byte("data: " + head + `,"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n"),
		usage:  []byte("data: " + head + `,"choices":[],`),
	}
	for i, p := range st.pieces {
		role := ""
		if i == 0 {
			// The role rides with the first content, so the first event of
			// every system under test is also its first content.
			role = `"role":"assistant",`
		}
		rd.chunks = append(rd.chunks, []byte("data: "+head+`,"choices":[{"index":0,"delta":{`+role+`"content":"`+p+`"},"finish_reason":null}]}`+"\n\n"))
	}
	if len(st.byModel) < maxRenderedModels {
		st.byModel[model] = rd
	}
	return rd
}

// appendUsage appends `"usage":{...}` (without the closing brace of the object around it).
func appendUsage(b []byte, prompt, completion int) []byte {
	b = append(b, `"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(completion), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt+completion), 10)
	return append(b, '}')
}

// filler returns n bytes of JSON-safe text.
func filler(n int) string {
	const words = "the quick brown fox jumps over the lazy dog "
	return strings.Repeat(words, n/len(words)+1)[:n]
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": nil}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// sleepCtx waits d; it reports false when ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
