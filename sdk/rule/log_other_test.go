//go:build !wasip1

package rule

import "testing"

func TestLogTestDouble(t *testing.T) {
	var got []string
	SetTestLogger(func(l Level, msg string) { got = append(got, msg) })
	defer SetTestLogger(nil)
	Log(LevelWarn, "hello")
	Log(LevelInfo, "")
	if len(got) != 1 || got[0] != "hello" {
		t.Fatalf("%v", got)
	}
}
