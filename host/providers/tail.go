package providers

import (
	"bytes"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// stderrTailSize is how much of a plugin's stderr is kept for error messages and logs.
const stderrTailSize = 4 << 10

// tailBuffer is an io.Writer keeping the last max bytes written to it. go-plugin copies
// the plugin's stderr into it line by line from its own goroutine; it is safe for
// concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
	cut bool // bytes were dropped from the front
}

func newTailBuffer(max int) *tailBuffer {
	return &tailBuffer{max: max, buf: make([]byte, 0, max)}
}

// Write never fails.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if n >= t.max {
		t.buf = append(t.buf[:0], p[n-t.max:]...)
		t.cut = true
		return n, nil
	}
	if over := len(t.buf) + n - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String returns the kept tail without surrounding whitespace, starting at a line
// boundary when the front was cut (and at a rune boundary in any case).
func (t *tailBuffer) String() string {
	t.mu.Lock()
	b := string(t.buf)
	cut := t.cut
	t.mu.Unlock()
	if cut {
		if i := strings.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		} else {
			for len(b) > 0 && !utf8.RuneStart(b[0]) {
				b = b[1:]
			}
		}
	}
	return strings.TrimSpace(b)
}

// redactor replaces secret values in text that leaves the package (errors, log lines,
// stderr tails): a plugin may echo a secret it was given, and Switchyard must not repeat it.
type redactor struct {
	r *strings.Replacer // nil when there is nothing to hide
}

// minSecretLen is the shortest secret value that is redacted; shorter values would mangle
// ordinary text and are not worth hiding from it.
const minSecretLen = 4

func newRedactor(secrets map[string]string) redactor {
	var vals []string
	for _, v := range secrets {
		if len(v) >= minSecretLen {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return redactor{}
	}
	// Longest first: a secret containing another must be hidden whole.
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, "[redacted]")
	}
	return redactor{r: strings.NewReplacer(pairs...)}
}

func (r redactor) String(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// lineWriter calls emit with each complete line written to it (without the newline);
// a line longer than max is emitted in pieces. Safe for concurrent use.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	max  int
	emit func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) < w.max {
				break
			}
			i = w.max
		}
		line := strings.TrimRight(string(w.buf[:i]), "\r")
		if i < len(w.buf) && w.buf[i] == '\n' {
			i++
		}
		w.buf = w.buf[i:]
		w.emit(line)
	}
	if len(w.buf) == 0 {
		w.buf = nil
	}
	return len(p), nil
}
