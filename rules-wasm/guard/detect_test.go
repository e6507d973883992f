package main

import (
	"strings"
	"testing"
)

// Key-shaped test strings are assembled at run time, so that no literal in the source
// looks like a leaked secret to a scanner.
var (
	openAIKey = "sk-" + "proj-" + strings.Repeat("Ab3_", 6)
	githubKey = "gh" + "p_" + strings.Repeat("a1B2", 9)
	githubPAT = "github" + "_pat_" + strings.Repeat("x_9", 8)
	slackKey  = "xo" + "xb-" + "1234567890-abcDEF"
	awsKey    = "AKIA" + "IOSFODNN7EXAMPLE" // AWS's documented example id
)

func TestHasCardNumber(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"4111111111111111", true},
		{"card 4111 1111 1111 1111, exp 12/29", true},
		{"4111-1111-1111-1111", true},
		{"5555 5555 5555 4444", true},
		{"amex 378282246310005.", true}, // 15 digits
		{"6011111111111117", true},
		{"4111 1111 1111 1112", false},        // Luhn fails
		{"4111  1111 1111 1111", false},       // a double space ends the run: 4 digits, then 12
		{"ts 1764000000000 ms", false},        // 13 digits, but no card starts with 1
		{"79927398713", false},                // Luhn-valid, 11 digits
		{"41111111111111111111111", false},    // part of a longer run
		{"4111 1111 1111 1111 1234 5", false}, // 21 digits in one run
		{"order 12 and 4111111111111111", true},
		{"", false},
		{"no digits at all", false},
	} {
		if got := hasCardNumber(tc.text); got != tc.want {
			t.Errorf("hasCardNumber(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

// TestHasDigit8 checks the word-at-a-time test against the byte one, on every byte
// value in every position.
func TestHasDigit8(t *testing.T) {
	for pos := range 8 {
		for c := range 256 {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			if got, want := hasDigit8(string(b)), isDigit(byte(c)); got != want {
				t.Fatalf("hasDigit8(%q) = %v, want %v", b, got, want)
			}
		}
	}
	if hasDigit8("\xff\xb0\xb9/:@~\x80") {
		t.Fatal("high bytes taken for digits")
	}
}

func TestHasAPIKey(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"key: " + openAIKey, true},
		{openAIKey, true},
		{"task-" + strings.Repeat("a", 30), false}, // "sk-" inside a word
		{"sk-short", false},
		{"(" + awsKey + ")", true},
		{"ASIA" + strings.Repeat("Z", 16), true},
		{"AKIA" + strings.Repeat("Z", 15), false},
		{"AKIA" + strings.Repeat("Z", 17), false},
		{"XAKIA" + strings.Repeat("Z", 16), false},
		{"token=" + githubKey, true},
		{githubKey[:30], false},
		{githubPAT, true},
		{slackKey, true},
		{"xoxb-123", false},
		{"nothing here", false},
	} {
		if got := hasAPIKey(tc.text); got != tc.want {
			t.Errorf("hasAPIKey(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestHasEmail(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"mail jane.doe+x@example.co.uk.", true},
		{"foo@bar.com", true},
		{"<a_b%c@sub-domain.example.org>", true},
		{"a@b", false},
		{"@someone said", false},
		{"x@y.c", false},
		{"user@localhost", false},
		{"user@.com", false},
		{"user@exa..mple.com", false},
		{"first@nowhere then second@example.com", true},
		{"@@@", false},
		{"", false},
	} {
		if got := hasEmail(tc.text); got != tc.want {
			t.Errorf("hasEmail(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

// FuzzDetectors: the detectors never panic, and a card number, key or address set apart
// in any text is found.
func FuzzDetectors(f *testing.F) {
	f.Add("hello", "world")
	f.Add("4111", "1111")
	f.Add("a@", "@b.com")
	f.Fuzz(func(t *testing.T, a, b string) {
		hasCardNumber(a + b)
		hasAPIKey(a + b)
		hasEmail(a + b)
		// A newline ends a run of digits (a space would join a digit of a or b to it).
		if !hasCardNumber(a + "\n4111 1111 1111 1111\n" + b) {
			t.Fatalf("card not found in %q", a+"\n4111 1111 1111 1111\n"+b)
		}
		if !hasEmail(a + " jane@example.com " + b) {
			t.Fatalf("address not found in %q", a+" jane@example.com "+b)
		}
		if !hasAPIKey(a + " " + openAIKey + " " + b) {
			t.Fatalf("key not found in %q", a+" "+openAIKey+" "+b)
		}
	})
}
