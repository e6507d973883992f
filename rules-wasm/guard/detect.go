package main

import "strings"

// The built-in detectors scan by hand rather than with regexp: one pass each, no
// allocation, and a few times faster inside Wasm, where a guard reading 64 KiB of prompt
// must still fit the rule's deadline. Each reports only whether the text holds a match:
// what matched never leaves the rule.

// hasCardNumber reports a payment card number: a run of 13 to 19 digits, single spaces
// or hyphens allowed between digits, not part of a longer run of digits, whose first
// digit is 2 to 6 (the ranges of the card networks; 1, 7, 8 and 9 start timestamps,
// phone and account numbers far more often than cards) and that passes the Luhn check.
func hasCardNumber(t string) bool {
	for i := 0; i < len(t); {
		// Prose holds few digits: skip eight bytes at a time while none is one
		// (a loop iteration is what costs inside Wasm: 3x faster on text).
		for i+8 <= len(t) && !hasDigit8(t[i:i+8]) {
			i += 8
		}
		if i >= len(t) {
			break
		}
		if !isDigit(t[i]) {
			i++
			continue
		}
		// A run starts at i: t[i-1] is not a digit (runs are skipped whole).
		var ds [19]byte
		n, j := 0, i
		for j < len(t) {
			switch c := t[j]; {
			case isDigit(c):
				if n < len(ds) {
					ds[n] = c - '0'
				}
				n++
				j++
				continue
			case (c == ' ' || c == '-') && j+1 < len(t) && isDigit(t[j+1]):
				j++
				continue
			}
			break
		}
		if n >= 13 && n <= 19 && ds[0] >= 2 && ds[0] <= 6 && luhn(ds[:n]) {
			return true
		}
		i = j
	}
	return false
}

// hasDigit8 reports whether one of the 8 bytes of s is an ASCII digit, without a loop:
// with the high bits cleared, adding 0x80-'0' sets a byte's high bit when it is at least
// '0', adding 0x80-':' when it is past '9' (no carry crosses bytes: 0x7f+0x50 < 0x100);
// bytes that had their high bit set are no ASCII.
func hasDigit8(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	x := w &^ highs
	return (x+ones*(0x80-'0'))&^(x+ones*(0x80-':'))&^w&highs != 0
}

// luhn reports whether the digits pass the Luhn checksum.
func luhn(ds []byte) bool {
	sum := 0
	for k := range ds {
		d := int(ds[len(ds)-1-k])
		if k%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

// hasAPIKey reports a secret key of a well-known shape, not preceded by a letter, digit,
// '_' or '-' (so "task-..." is no "sk-" key):
//   - sk-...: OpenAI and Anthropic (sk-proj-..., sk-ant-...), 20 or more of [A-Za-z0-9_-];
//   - AKIA... or ASIA...: an AWS access key id, exactly 16 of [A-Z0-9];
//   - ghp_, gho_, ghu_, ghs_, ghr_: GitHub tokens, 36 or more of [A-Za-z0-9];
//     github_pat_: 22 or more of [A-Za-z0-9_];
//   - xox?-: Slack tokens (xoxb-, xoxp-, ...), 10 or more of [A-Za-z0-9-].
func hasAPIKey(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c != 's' && c != 'A' && c != 'g' && c != 'x' || i > 0 && isKeyChar(t[i-1]) {
			continue
		}
		rest := t[i:]
		switch c {
		case 's':
			if strings.HasPrefix(rest, "sk-") && run(rest[3:], isKeyChar) >= 20 {
				return true
			}
		case 'A':
			if (strings.HasPrefix(rest, "AKIA") || strings.HasPrefix(rest, "ASIA")) && run(rest[4:], isUpperAlnum) == 16 {
				return true
			}
		case 'g':
			if len(rest) > 4 && rest[:2] == "gh" && strings.IndexByte("pousr", rest[2]) >= 0 && rest[3] == '_' &&
				run(rest[4:], isAlnum) >= 36 {
				return true
			}
			if strings.HasPrefix(rest, "github_pat_") && run(rest[11:], isWordChar) >= 22 {
				return true
			}
		case 'x':
			if len(rest) > 5 && rest[:3] == "xox" && rest[3] >= 'a' && rest[3] <= 'z' && rest[4] == '-' &&
				run(rest[5:], isSlackChar) >= 10 {
				return true
			}
		}
	}
	return false
}

// hasEmail reports an e-mail address: local@domain.tld, the local part one or more of
// [A-Za-z0-9._%+-], the domain labels of [A-Za-z0-9-] separated by single dots, and a
// top-level label of two or more letters (a dot or hyphen ending a sentence is not part
// of it).
func hasEmail(t string) bool {
	for at := strings.IndexByte(t, '@'); at >= 0; {
		local := 0
		for local < at && isLocalChar(t[at-1-local]) {
			local++
		}
		d := t[at+1:]
		d = d[:run(d, isDomainChar)]
		d = strings.TrimRight(d, ".-")
		if local > 0 && validDomain(d) {
			return true
		}
		next := strings.IndexByte(t[at+1:], '@')
		if next < 0 {
			break
		}
		at += 1 + next
	}
	return false
}

// validDomain reports labels separated by single dots, at least two, the last of two or
// more letters.
func validDomain(d string) bool {
	dot := strings.LastIndexByte(d, '.')
	if dot <= 0 || strings.Contains(d, "..") || d[0] == '.' {
		return false
	}
	tld := d[dot+1:]
	return len(tld) >= 2 && run(tld, isLetter) == len(tld)
}

// run is how many leading bytes of s satisfy ok.
func run(s string, ok func(byte) bool) int {
	n := 0
	for n < len(s) && ok(s[n]) {
		n++
	}
	return n
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isLetter(c byte) bool     { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isAlnum(c byte) bool      { return isDigit(c) || isLetter(c) }
func isUpperAlnum(c byte) bool { return isDigit(c) || c >= 'A' && c <= 'Z' }
func isWordChar(c byte) bool   { return isAlnum(c) || c == '_' }
func isKeyChar(c byte) bool    { return isWordChar(c) || c == '-' }
func isSlackChar(c byte) bool  { return isAlnum(c) || c == '-' }
func isDomainChar(c byte) bool { return isAlnum(c) || c == '-' || c == '.' }
func isLocalChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}
