package content

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchyard-llm/switchyard/host/rules/abi"
	"github.com/switchyard-llm/switchyard/sdk/provider"
)

func text(s string) provider.ContentPart { return provider.ContentPart{Type: "text", Text: s} }

var image = provider.ContentPart{Type: "image_url", ImageURL: "https://example.com/cat.png"}

func TestFacts(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []provider.Message
		max  int
		want *abi.Content
	}{
		{name: "no rule asked", msgs: []provider.Message{{Role: "user", Content: "hi"}}, max: 0, want: nil},
		{name: "no messages", max: 10, want: &abi.Content{}},
		{name: "plain chat", max: 100, msgs: []provider.Message{
			{Role: "system", Content: "You are terse."},
			{Role: "user", Content: "first question"},
			{Role: "assistant", Content: "an answer with ``` in it"},
			{Role: "user", Content: "Hello there"},
		}, want: &abi.Content{LastUser: "Hello there", System: "You are terse.", LanguageHint: "latin"}},
		{name: "parts joined, images and tools", max: 100, msgs: []provider.Message{
			{Role: "developer", Parts: []provider.ContentPart{text("rule one"), text("rule two")}},
			{Role: "system", Content: "and three"},
			{Role: "user", Parts: []provider.ContentPart{text("look at"), image, text("this")}},
			{Role: "assistant", Content: "calling"},
			{Role: "tool", Content: "```result```", ToolCallID: "c1"},
		}, want: &abi.Content{LastUser: "look at\nthis", System: "rule one\nrule two\nand three",
			HasImage: true, HasToolResults: true, LanguageHint: "latin"}},
		{name: "code fence in an earlier user message", max: 100, msgs: []provider.Message{
			{Role: "user", Content: "```go\nfunc main() {}\n```"},
			{Role: "user", Content: "why?"},
		}, want: &abi.Content{LastUser: "why?", HasCodeFence: true, LanguageHint: "latin"}},
		{name: "code fence past the cut still counts", max: 4, msgs: []provider.Message{
			{Role: "system", Parts: []provider.ContentPart{text("long instructions"), text("```json")}},
			{Role: "user", Content: "ok"},
		}, want: &abi.Content{LastUser: "ok", System: "long", HasCodeFence: true, LanguageHint: "latin"}},
		{name: "fence in a tool result does not count", max: 10, msgs: []provider.Message{
			{Role: "tool", Content: "```"},
		}, want: &abi.Content{HasToolResults: true}},
		{name: "last user message without text", max: 10, msgs: []provider.Message{
			{Role: "user", Content: "earlier"},
			{Role: "user", Parts: []provider.ContentPart{image}},
		}, want: &abi.Content{HasImage: true}},
		{name: "cut on a UTF-8 boundary", max: 5, msgs: []provider.Message{
			{Role: "system", Content: "ab€cd"}, // € is 3 bytes: a b [€] = 5 bytes
			{Role: "user", Content: "añb€"},    // a [ñ] b = 4 bytes, € would end at 7
		}, want: &abi.Content{LastUser: "añb", System: "ab€", LanguageHint: "latin"}},
		{name: "cut inside the separator run", max: 6, msgs: []provider.Message{
			{Role: "user", Parts: []provider.ContentPart{text("ab"), text("cd"), text("ef")}},
		}, want: &abi.Content{LastUser: "ab\ncd\n", LanguageHint: "latin"}},
		{name: "max above the ABI's is the ABI's", max: 1 << 30, msgs: []provider.Message{
			{Role: "user", Content: strings.Repeat("x", abi.MaxContentBytes+10)},
		}, want: &abi.Content{LastUser: strings.Repeat("x", abi.MaxContentBytes), LanguageHint: "latin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Facts(tc.msgs, tc.max)
			switch {
			case got == nil && tc.want == nil:
			case got == nil || tc.want == nil || *got != *tc.want:
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLanguageHint(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"", ""},
		{"1234 5678 !?", ""},
		{"Hello, world", "latin"},
		{"Ça va très bien, merci", "latin"},
		{"Привет, как дела?", "cyrillic"},
		{"Γειά σου κόσμε", "greek"},
		{"مرحبا بالعالم", "arabic"},
		{"שלום עולם", "hebrew"},
		{"你好，世界。今天天气很好。", "han"},
		{"こんにちは、世界", "japanese"},
		{"日本語の文章を書きます", "japanese"},
		{"東京都千代田区", "han"}, // kanji alone cannot be told from Chinese
		{"안녕하세요 세계", "korean"},
		{"नमस्ते दुनिया", "devanagari"},
		{"สวัสดีชาวโลก", "thai"},
		{"abc абв", ""},              // a tie: nothing dominates
		{"Hello Привет", "cyrillic"}, // 6 of 11 letters
		{"Почему не работает ```fmt.Println(x)```?", "cyrillic"},
		{"Fix ```fmt.Println(x)``` почему", "latin"},
		{"ሰላም ዓለም", ""},           // Ethiopic: letters of no listed script
		{"\xff\xfe abc", "latin"}, // invalid bytes are not letters
		{"Pythonでリストをソートする方法は", "japanese"},
	} {
		if got := LanguageHint(tc.text); got != tc.want {
			t.Errorf("LanguageHint(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

// TestLanguageHintWindow: only the first HintWindow bytes count, whatever follows.
func TestLanguageHintWindow(t *testing.T) {
	s := strings.Repeat("a", HintWindow-1) + strings.Repeat("я", HintWindow)
	if got := LanguageHint(s); got != "latin" {
		t.Fatalf("hint %q: the text past the window counted", got)
	}
	msgs := []provider.Message{{Role: "user", Parts: []provider.ContentPart{text(strings.Repeat("a", HintWindow)), text(strings.Repeat("я", HintWindow))}}}
	if got := Facts(msgs, 10).LanguageHint; got != "latin" {
		t.Fatalf("hint %q over parts: the window is the joined text's", got)
	}
}

func TestTruncateUTF8(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 3, "hel"},
		{"hello", 0, ""},
		{"hello", -1, ""},
		{"é", 1, ""},                           // 2 bytes
		{"aé", 2, "a"},                         // cut inside é
		{"a€", 3, "a"},                         // € is 3 bytes
		{"a€", 2, "a"},                         // cut after its first byte
		{"😀x", 3, ""},                          // 4 bytes, cut after its third
		{"😀x", 4, "😀"},                         // whole
		{"a\x80\x80\x80\x80b", 3, "a\x80\x80"}, // stray continuation bytes do not move the cut
		{"a\xe2\x82b", 2, "a\xe2"},             // an invalid sequence is one byte at a time
	} {
		if got := abi.TruncateUTF8(tc.s, tc.n); got != tc.want {
			t.Errorf("TruncateUTF8(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// BenchmarkFacts measures the facts of a short chat with a 4 KB system prompt, at the
// largest max_bytes: what the pipeline pays per request when some rule opted in.
func BenchmarkFacts(b *testing.B) {
	msgs := []provider.Message{
		{Role: "system", Content: strings.Repeat("You answer questions about the codebase. ", 100)},
		{Role: "user", Content: "How do I read the config?"},
		{Role: "assistant", Content: "With config.Load."},
		{Role: "user", Content: "Show me an example with ```go``` code, please."},
	}
	b.ReportAllocs()
	for b.Loop() {
		Facts(msgs, abi.MaxContentBytes)
	}
}

// FuzzFacts checks Facts against a plain reference built with strings.Join: the texts
// are the reference's cut at max bytes on a UTF-8 boundary, valid UTF-8 when the input
// is, and cutting them again at a smaller n gives the reference cut at n (what the
// encoder relies on per rule).
func FuzzFacts(f *testing.F) {
	f.Add("system", "You are terse.", "user", "Hello ```x``` там", "b", 12, 5)
	f.Add("developer", "añb€", "user", "€€€", "😀", 4, 2)
	f.Add("user", "", "tool", "x", "", 1, 1)
	f.Fuzz(func(t *testing.T, role1, text1, role2, text2, part string, maxBytes, n int) {
		msgs := []provider.Message{
			{Role: role1, Content: text1},
			{Role: role2, Parts: []provider.ContentPart{text(text2), image, text(part)}},
		}
		got := Facts(msgs, maxBytes)
		if maxBytes <= 0 {
			if got != nil {
				t.Fatalf("max %d: %+v", maxBytes, got)
			}
			return
		}
		maxBytes = min(maxBytes, abi.MaxContentBytes)
		var sys []string
		user, fence := "", false
		for _, m := range msgs {
			texts := []string{m.Content}
			if len(m.Parts) > 0 {
				texts = []string{text2, part}
			}
			switch m.Role {
			case "system", "developer":
				sys = append(sys, texts...)
			case "user":
				user = strings.Join(texts, "\n")
			default:
				continue
			}
			for _, s := range texts {
				fence = fence || strings.Contains(s, "```")
			}
		}
		wantSys, wantUser := strings.Join(sys, "\n"), user
		check := func(what, got, full string) {
			if got != abi.TruncateUTF8(full, maxBytes) {
				t.Fatalf("%s %q, want %q cut at %d", what, got, full, maxBytes)
			}
			if len(got) > maxBytes || !strings.HasPrefix(full, got) {
				t.Fatalf("%s %q is not a prefix of at most %d bytes of %q", what, got, maxBytes, full)
			}
			if utf8.ValidString(full) && !utf8.ValidString(got) {
				t.Fatalf("%s %q: a cut split a rune", what, got)
			}
			if len(full) > maxBytes && utf8.ValidString(full) && len(got) <= maxBytes-utf8.UTFMax {
				t.Fatalf("%s %q: cut further back than a rune", what, got)
			}
			if m := min(maxBytes, max(n, 0)); abi.TruncateUTF8(got, m) != abi.TruncateUTF8(full, m) {
				t.Fatalf("%s: cutting at %d then %d differs from cutting at %d", what, maxBytes, m, m)
			}
		}
		check("system", got.System, wantSys)
		check("last_user", got.LastUser, wantUser)
		if got.HasCodeFence != fence || !got.HasImage || got.HasToolResults != (role1 == "tool" || role2 == "tool") {
			t.Fatalf("facts %+v", got)
		}
		if want := LanguageHint(user); got.LanguageHint != want {
			t.Fatalf("hint %q, want %q", got.LanguageHint, want)
		}
	})
}
