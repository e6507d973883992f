package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchyard-llm/switchyard/host/pipeline"
)

// HeaderCache is the response cache's header: a request's "off" keeps it out of the cache
// (neither read nor filled); an answer's says what the cache did: hit, miss or bypass.
const HeaderCache = "x-switchyard-cache"

var canonCache = http.CanonicalHeaderKey(HeaderCache)

// cacheWrite bounds storing an answer, which happens after the client has it.
const cacheWrite = 2 * time.Second

// cached is one request's hold on its route's cache: the key it is stored under, and the
// answer's bytes as they are written to the client.
type cached struct {
	route string
	key   string
	ttl   time.Duration
	max   int
	body  []byte
	over  bool // the answer grew past max: it is not kept
}

// add keeps a copy of what was written to the client.
func (k *cached) add(p []byte) {
	if k.over {
		return
	}
	if len(k.body)+len(p) > k.max {
		k.over, k.body = true, nil
		return
	}
	k.body = append(k.body, p...)
}

// cacheEntry is what the cache keeps of an answer: what the client got and who answered.
type cacheEntry struct {
	ContentType string `json:"content_type"`
	Provider    string `json:"provider,omitempty"`
	Model       string `json:"model,omitempty"`
	Rule        string `json:"rule,omitempty"`
	body        []byte
}

// encode is the entry as the cache stores it: the length of its JSON head, the head, the
// body as it was sent (no base64: a stored stream is as large as the stream).
func (e *cacheEntry) encode() []byte {
	head, _ := json.Marshal(e)
	out := binary.AppendUvarint(make([]byte, 0, len(head)+len(e.body)+4), uint64(len(head)))
	return append(append(out, head...), e.body...)
}

var errCacheEntry = errors.New("server: malformed cache entry")

func decodeCacheEntry(b []byte) (*cacheEntry, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, errCacheEntry
	}
	e := &cacheEntry{}
	if err := json.Unmarshal(b[w:w+int(n)], e); err != nil || e.ContentType == "" {
		return nil, errCacheEntry
	}
	e.body = b[w+int(n):]
	return e, nil
}

// cacheKey is the hex SHA-256 of everything that makes two requests the same: the route,
// the endpoint, the caller's scope (its team, else its key: answers never cross teams),
// the steering headers rules read, and the body normalised (key order and whitespace do
// not matter). A body that is not one JSON value keys on its bytes.
func cacheKey(route, endpoint, scope string, h http.Header, body []byte) string {
	d := sha256.New()
	for _, part := range []string{"v1", route, endpoint, scope, h.Get(HeaderPriority), h.Get(HeaderTags)} {
		d.Write([]byte(part))
		d.Write([]byte{0})
	}
	d.Write(canonicalJSON(body))
	return hex.EncodeToString(d.Sum(nil))
}

// canonicalJSON re-encodes body with sorted object keys and numbers as written.
func canonicalJSON(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return body
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

// cacheScope names whose answers a request may share.
func cacheScope(x *exchange) string {
	switch {
	case x.team != "":
		return "team:" + x.team
	case x.key != "":
		return "key:" + x.key
	}
	return ""
}

// lookupCache answers p from its route's cache when it can (true: the answer is written).
// Otherwise it arms x to keep the answer when p's route has a cache, and marks the
// response miss or bypass. A cache that fails is a miss.
func (s *Server) lookupCache(ctx context.Context, c *gin.Context, x *exchange, p *parsed) bool {
	if s.o.Cache == nil {
		return false
	}
	rc := p.state.Config.RouteCache(p.call.Chat.Model)
	if rc == nil {
		return false
	}
	route := p.call.Chat.Model
	h := c.Writer.Header()
	if strings.EqualFold(strings.TrimSpace(c.GetHeader(HeaderCache)), "off") {
		s.m.CacheRequests.WithLabelValues(route, "bypass").Inc()
		h[canonCache] = []string{"bypass"}
		return false
	}
	key := cacheKey(route, x.endpoint, cacheScope(x), c.Request.Header, p.body)
	if b, ok, err := s.o.Cache.Get(ctx, key); err == nil && ok {
		if e, err := decodeCacheEntry(b); err == nil {
			s.m.CacheRequests.WithLabelValues(route, "hit").Inc()
			s.serveCached(c, x, e)
			return true
		}
	}
	s.m.CacheRequests.WithLabelValues(route, "miss").Inc()
	h[canonCache] = []string{"miss"}
	x.cache = &cached{route: route, key: key, ttl: rc.TTL.D(), max: rc.MaxBytes}
	return false
}

// serveCached writes a kept answer: the same body (a stream's events at once), with what
// this request cost, nothing.
func (s *Server) serveCached(c *gin.Context, x *exchange, e *cacheEntry) {
	x.cacheHit = true
	x.out = &pipeline.Outcome{Plan: &pipeline.Plan{Rule: e.Rule}}
	if e.Provider != "" {
		x.out.Target = &pipeline.Target{Provider: e.Provider, Name: e.Model}
	}
	h := c.Writer.Header()
	if e.ContentType == "text/event-stream" {
		streamHeaders(h)
		h.Del("Trailer")
	}
	h.Set("Content-Type", e.ContentType)
	h[canonCache] = []string{"hit"}
	s.outcomeHeaders(c, x.out)
	h.Set(canonCost, formatUSD(0))
	h.Set(canonOverhead, formatMS(time.Since(x.start)))
	c.Data(http.StatusOK, e.ContentType, e.body)
}

// storeCache keeps the answer x sent when it may be: a whole answer with status 200 (it
// passed validation) or a stream that ended normally, within the route's max_bytes, with
// the client still there. It is stored off the request path.
func (s *Server) storeCache(ctx context.Context, x *exchange, status int) {
	k := x.cache
	if k == nil || k.over || status != http.StatusOK || x.Status() != http.StatusOK || x.inBand ||
		x.err != nil || ctx.Err() != nil || x.out == nil || len(k.body) == 0 {
		return
	}
	e := &cacheEntry{ContentType: x.Header().Get("Content-Type"), body: k.body}
	if i := strings.IndexByte(e.ContentType, ';'); i >= 0 {
		e.ContentType = strings.TrimSpace(e.ContentType[:i])
	}
	if e.ContentType == "" {
		return
	}
	if t := x.out.Target; t != nil {
		e.Provider, e.Model = t.Provider, t.Name
	}
	if x.out.Plan != nil {
		e.Rule = x.out.Plan.Rule
	}
	value := e.encode()
	route, key, ttl := k.route, k.key, k.ttl
	s.background(func() {
		sctx, cancel := context.WithTimeout(context.Background(), cacheWrite)
		defer cancel()
		if s.o.Cache.Set(sctx, key, value, ttl) == nil {
			s.m.CacheStored.WithLabelValues(route).Inc()
		}
	})
}
