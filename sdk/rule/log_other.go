//go:build !wasip1

package rule

import "sync"

var (
	testLogMu sync.Mutex
	testLog   func(level Level, msg string)
)

// SetTestLogger sets the function that receives Log lines when the SDK runs
// natively (tests, fuzzers), standing in for the host's switchyard.log
// import. nil discards them. It exists only outside Wasm.
func SetTestLogger(fn func(level Level, msg string)) {
	testLogMu.Lock()
	testLog = fn
	testLogMu.Unlock()
}

func hostLog(level Level, msg string) {
	testLogMu.Lock()
	fn := testLog
	testLogMu.Unlock()
	if fn != nil {
		fn(level, msg)
	}
}
