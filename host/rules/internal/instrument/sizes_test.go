package instrument

import (
	"os"
	"testing"

	"github.com/switchyard-llm/switchyard/host/rules/internal/testkit"
)

// TestCheckSizes: modules of a few bytes whose vector lengths would make
// wazero allocate gigabytes are refused before wazero sees them, with a
// message (the engine's load refuses them: TestLoadRefusesSizeBomb in
// host/rules); every fixture and shipped rule passes.
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
		if err := CheckSizes([]byte(wasm)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, f := range testkit.Fixtures(t) {
		wasm, err := os.ReadFile(testkit.WAT(t, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckSizes(wasm); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for _, name := range []string{"tiered", "cheapest", "example-rust", "example-as"} {
		wasm, err := os.ReadFile(testkit.ShippedRule(t, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckSizes(wasm); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
