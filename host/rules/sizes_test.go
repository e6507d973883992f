package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckSizes: modules of a few bytes whose vector lengths would make
// wazero allocate gigabytes are refused before wazero sees them, with a
// message; every fixture and shipped rule passes.
func TestCheckSizes(t *testing.T) {
	const header = "\x00asm\x01\x00\x00\x00"
	bombs := map[string]string{
		"element count":     header + "\t\x0f\xff\xff\xff000\xff00000000\x05\x0200", // found by FuzzInstrument
		"element vector":    header + "\x09\x07\x01\x01\x00\xff\xff\xff\x0f",
		"data segment size": header + "\x0b\x07\x01\x01\xff\xff\xff\xff\x0f",
		"locals":            header + "\x0a\x09\x01\x07\x01\xff\xff\xff\xff\x0f\x7f",
		"import count":      header + "\x02\x05\xff\xff\xff\xff\x0f",
		"type parameters":   header + "\x01\x08\x01\x60\xff\xff\xff\xff\x0f\x00",
		"local names":       header + "\x00\x10\x04name\x02\x09\x01\x00\xff\xff\xff\xff\x0f\x00\x00",
	}
	for name, wasm := range bombs {
		if err := checkSizes([]byte(wasm)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c, err := Load(t.Context(), []Spec{{Name: "bomb", Path: writeTemp(t, bombs["data segment size"])}}, Options{})
	if err == nil {
		c.Close(t.Context())
		t.Fatal("Load accepted a data segment bomb")
	}
	if !strings.Contains(err.Error(), "malformed module") {
		t.Fatalf("Load: %v", err)
	}

	fixtures, _ := filepath.Glob("testdata/*.wat")
	for _, f := range fixtures {
		wasm, err := os.ReadFile(wat(t, filepath.Base(f)))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkSizes(wasm); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, name := range []string{"tiered", "cheapest", "example-rust", "example-as"} {
		wasm, err := os.ReadFile(buildShippedRule(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkSizes(wasm); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.wasm")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
