// Package content computes request.content (api/rules/ABI.md), what rules that opt in
// with content: {max_bytes: N} see of the prompt, from a chat request's messages. The
// pipeline calls Facts once per request, and only when some rule of the chain opted in;
// the encoder (host/rules/abi) cuts the texts again to each rule's own N.
//
// It is a package of its own so that the ABI package need not import the provider SDK
// and the engine need not import either: the pipeline, which has the messages, calls it.
package content

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

// HintWindow is how much of the last user message's text LanguageHint reads: its first
// 64 KiB, cut on a UTF-8 boundary, whatever max_bytes a rule asks for, so that the hint of
// a request is the same for every rule and costs a bounded scan.
const HintWindow = abi.MaxContentBytes

// Facts returns request.content for the messages, with last_user and system cut to
// maxBytes bytes (at most abi.MaxContentBytes) on a UTF-8 boundary: the largest max_bytes
// of the chain. It returns nil when maxBytes <= 0 (no rule asked).
//
// last_user is the text of the last message of role user: its text parts joined with
// "\n" (its Content when it has no parts). system is the text of the system and developer
// messages, in order: their text parts (a message's Content when it has no parts) joined
// with "\n". has_code_fence tells whether "```"
// appears in the whole text of any user, system or developer message (not only in what
// is cut), has_image whether any message has an image part, has_tool_results whether any
// message has role tool. language_hint is LanguageHint of the last user message's text.
//
// Texts made of one piece (the usual single-string message) are cut in place; only texts
// joined from several pieces are copied, at most maxBytes+utf8.UTFMax bytes of them.
func Facts(msgs []provider.Message, maxBytes int) *abi.Content {
	if maxBytes <= 0 {
		return nil
	}
	maxBytes = min(maxBytes, abi.MaxContentBytes)
	c := &abi.Content{}
	// TruncateUTF8 decodes the rune that crosses the cut: keep enough bytes
	// past the cut for a whole one, or a rune cut short by the joiner would
	// look invalid and stay half in (FuzzFacts found it).
	keep := maxBytes + utf8.UTFMax
	system := joiner{limit: keep}
	last := -1
	for i := range msgs {
		m := &msgs[i]
		text := false
		switch m.Role {
		case "user":
			last, text = i, true
		case "system", "developer":
			text = true
		case "tool":
			c.HasToolResults = true
		}
		if len(m.Parts) == 0 {
			if text {
				c.HasCodeFence = c.HasCodeFence || strings.Contains(m.Content, "```")
				if m.Role != "user" {
					system.add(m.Content)
				}
			}
			continue
		}
		for j := range m.Parts {
			p := &m.Parts[j]
			switch p.Type {
			case "image_url":
				c.HasImage = true
			case "text":
				if !text {
					continue
				}
				c.HasCodeFence = c.HasCodeFence || strings.Contains(p.Text, "```")
				if m.Role != "user" {
					system.add(p.Text)
				}
			}
		}
	}
	c.System = system.text(maxBytes)
	if last >= 0 {
		m := &msgs[last]
		user := joiner{limit: keep}
		var hint scripts
		hint.budget = HintWindow
		if len(m.Parts) == 0 {
			user.add(m.Content)
			hint.add(m.Content)
		} else {
			for j := range m.Parts {
				if p := &m.Parts[j]; p.Type == "text" {
					user.add(p.Text)
					hint.add(p.Text)
				}
			}
		}
		c.LastUser = user.text(maxBytes)
		c.LanguageHint = hint.result()
	}
	return c
}

// joiner joins texts with "\n", keeping at most limit bytes. A text of one piece stays a
// view of the caller's string; the bytes are copied only once a second piece comes.
type joiner struct {
	limit  int
	pieces int
	one    string // the text while it is one piece
	buf    []byte // the text once it is several
}

// add appends t, after a "\n" unless it is the first piece.
func (j *joiner) add(t string) {
	j.pieces++
	if j.pieces == 1 {
		j.one = t
		return
	}
	if j.buf == nil {
		if len(j.one) >= j.limit {
			return // full: nothing more can show
		}
		j.buf = make([]byte, 0, min(j.limit, len(j.one)+1+len(t)))
		j.buf = append(j.buf, j.one...)
	}
	if len(j.buf) >= j.limit {
		return
	}
	j.buf = append(j.buf, '\n')
	j.buf = append(j.buf, t[:min(len(t), j.limit-len(j.buf))]...)
}

// text returns the joined text cut to n bytes on a UTF-8 boundary.
func (j *joiner) text(n int) string {
	if j.buf == nil {
		return abi.TruncateUTF8(j.one, n)
	}
	return abi.TruncateUTF8(string(j.buf), n)
}

// The scripts LanguageHint tells apart, in the order ties would be broken (a tie never
// decides: the winner must hold more than half of the letters).
const (
	sLatin = iota
	sCyrillic
	sGreek
	sArabic
	sHebrew
	sHan
	sJapanese
	sKorean
	sDevanagari
	sThai
	nScripts
)

var scriptNames = [nScripts]string{"latin", "cyrillic", "greek", "arabic", "hebrew", "han", "japanese", "korean", "devanagari", "thai"}

// scripts counts the letters of a text by Unicode script, over at most budget bytes of
// the text's pieces joined with "\n".
type scripts struct {
	n       [nScripts]int
	kana    int // hiragana and katakana; counted with han into japanese or han at the end
	letters int // every letter, of any script
	budget  int
	pieces  int
}

// LanguageHint names the script most of the letters of text are written in, for
// request.content.language_hint (the algorithm is in api/rules/ABI.md):
//
//   - read the first HintWindow bytes of text (cut on a UTF-8 boundary); count each rune
//     that unicode.IsLetter accepts as a letter, and its script: Latin, Cyrillic, Greek,
//     Arabic, Hebrew, Han, Hiragana or Katakana (kana), Hangul, Devanagari, Thai, or
//     another (which counts only as a letter);
//   - Han and kana together are "japanese" when kana make at least a tenth of them,
//     "han" otherwise; Hangul is "korean", the others their script's name in lowercase;
//   - the answer is the script with more than half of all the letters; "" when none
//     has, or the text has no letter.
//
// Digits, punctuation, white space, marks (such as Devanagari's vowel signs) and invalid
// UTF-8 are not letters and count for nothing.
func LanguageHint(text string) string {
	s := scripts{budget: HintWindow}
	s.add(text)
	return s.result()
}

// add counts the letters of t; a piece after the first is joined with "\n" (one byte of
// the budget, not a letter).
func (s *scripts) add(t string) {
	if s.pieces++; s.pieces > 1 {
		s.budget--
	}
	if s.budget <= 0 {
		s.budget = 0
		return
	}
	t = abi.TruncateUTF8(t, s.budget)
	s.budget -= len(t)
	for i := 0; i < len(t); {
		b := t[i]
		if b < utf8.RuneSelf {
			// ASCII, the common case, without decoding.
			if l := b | 0x20; l >= 'a' && l <= 'z' {
				s.n[sLatin]++
				s.letters++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(t[i:])
		i += size
		if !unicode.IsLetter(r) {
			continue // also utf8.RuneError, which is not a letter
		}
		s.letters++
		switch {
		case unicode.Is(unicode.Latin, r):
			s.n[sLatin]++
		case unicode.Is(unicode.Cyrillic, r):
			s.n[sCyrillic]++
		case unicode.Is(unicode.Han, r):
			s.n[sHan]++
		case unicode.Is(unicode.Hiragana, r), unicode.Is(unicode.Katakana, r):
			s.kana++
		case unicode.Is(unicode.Hangul, r):
			s.n[sKorean]++
		case unicode.Is(unicode.Arabic, r):
			s.n[sArabic]++
		case unicode.Is(unicode.Greek, r):
			s.n[sGreek]++
		case unicode.Is(unicode.Hebrew, r):
			s.n[sHebrew]++
		case unicode.Is(unicode.Devanagari, r):
			s.n[sDevanagari]++
		case unicode.Is(unicode.Thai, r):
			s.n[sThai]++
		}
	}
}

func (s *scripts) result() string {
	if s.letters == 0 {
		return ""
	}
	n := s.n
	// Japanese is written in kanji (Han) and kana, Chinese in Han alone: kana
	// decide which the Han letters are.
	if cjk := n[sHan] + s.kana; s.kana > 0 && s.kana*10 >= cjk {
		n[sJapanese], n[sHan] = cjk, 0
	} else {
		n[sHan] = cjk
	}
	best := 0
	for i := 1; i < nScripts; i++ {
		if n[i] > n[best] {
			best = i
		}
	}
	if n[best]*2 > s.letters {
		return scriptNames[best]
	}
	return ""
}
