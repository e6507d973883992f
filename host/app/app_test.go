package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run calls Run with args and returns its error and outputs.
func run(t *testing.T, args ...string) (err error, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = Run("v9.8.7", args, &out, &errOut)
	return err, out.String(), errOut.String()
}

func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		t.Run(arg, func(t *testing.T) {
			err, out, errOut := run(t, arg)
			if err != nil {
				t.Fatalf("%s: %v (exit status would not be 0)", arg, err)
			}
			if errOut != "" {
				t.Errorf("help went to stderr: %q", errOut)
			}
			// Every flag of the serving command, with the defaults of those that have one.
			for _, want := range []string{"usage:", "switchyard validate", "--config FILE", `(default "host/config/default.yaml")`,
				"--listen ADDR", "--log-level LEVEL", `(default "info")`, "--pprof ADDR", "--version", "-h, --help"} {
				if !strings.Contains(out, want) {
					t.Errorf("help lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	err, out, _ := run(t, "--version")
	if err != nil || out != "switchyard v9.8.7\n" {
		t.Errorf("--version: %v %q", err, out)
	}
}

func TestBadCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error
	}{
		{"unknown flag", []string{"--nope"}, "not defined: -nope"},
		{"argument", []string{"serve"}, `unexpected argument "serve"`},
		{"log level", []string{"--log-level", "loud"}, `bad --log-level "loud"`},
		{"flag without value", []string{"--config"}, "needs an argument"},
		{"rules without subcommand", []string{"rules"}, "rules: unknown or missing subcommand"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, out, _ := run(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
	t.Run("unknown flag shows the usage on stderr", func(t *testing.T) {
		_, _, errOut := run(t, "--nope")
		if !strings.Contains(errOut, "usage:") || !strings.Contains(errOut, "--log-level") {
			t.Errorf("stderr %q", errOut)
		}
	})
}

// TestBrokenConfig: validate, and serving, refuse a config that does not load with an
// error that names the file (and the problem), before any plugin is started.
func TestBrokenConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	typeError := write("type.yaml", "providers:\n  - name: mock\n    plugin: /bin/true\nmodels:\n  - name: m\n    provider: mock\n    context_window: lots\n")
	unknownKey := write("unknown.yaml", "providers:\n  - {name: mock, plugin: /bin/true}\nmodles: []\n")
	notYAML := write("syntax.yaml", "providers: [\n")
	missing := filepath.Join(dir, "missing.yaml")
	for _, tc := range []struct {
		name, path, want string
	}{
		{"type error", typeError, "context_window"},
		{"unknown key", unknownKey, "modles"},
		{"not YAML", notYAML, ""},
		{"missing file", missing, ""},
	} {
		for _, cmd := range [][]string{{"validate", "--config", tc.path}, {"--config", tc.path}} {
			t.Run(tc.name+"/"+cmd[0], func(t *testing.T) {
				err, out, _ := run(t, cmd...)
				if err == nil {
					t.Fatalf("%v: no error", cmd)
				}
				if !strings.Contains(err.Error(), tc.path) {
					t.Errorf("error %q does not name the file %s", err, tc.path)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %q does not say %q", err, tc.want)
				}
				if strings.Contains(out, "ok") {
					t.Errorf("stdout %q", out)
				}
			})
		}
	}
}
