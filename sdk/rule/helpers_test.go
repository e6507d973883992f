package rule

import (
	"errors"
	"strings"
	"testing"
)

func TestAddNamed(t *testing.T) {
	cs := []Candidate{
		{Provider: "a", Model: "small", Healthy: true, Circuit: "closed"},
		{Provider: "b", Model: "small", Healthy: true, Circuit: "open"},
		{Provider: "a", Model: "large", Healthy: false, Circuit: "closed"},
		{Provider: "b", Model: "large", Healthy: true, Circuit: "half_open"},
	}
	for _, tc := range []struct {
		name          string
		onlyAvailable bool
		refs          []string
		want          string
	}{
		{"refs order, every match", false, []string{"large", "small"}, "a/large b/large a/small b/small"},
		{"each once", false, []string{"small", "a/small", "small"}, "a/small b/small"},
		{"provider/model names one", false, []string{"b/large"}, "b/large"},
		{"only available", true, []string{"large", "small"}, "b/large a/small"},
		{"nothing named", true, []string{"medium"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d Decision
			n := d.AddNamed(cs, tc.onlyAvailable, tc.refs...)
			got := ""
			for i, tg := range d.Targets {
				if i > 0 {
					got += " "
				}
				got += tg.Provider + "/" + tg.Model
			}
			if got != tc.want || n != len(d.Targets) {
				t.Errorf("targets %q (added %d), want %q", got, n, tc.want)
			}
		})
	}
}

func TestCheckKeys(t *testing.T) {
	for _, tc := range []struct {
		text string
		want error
	}{
		{`{"a":1,"b":2}`, nil},
		{`{"a":1,"c":2}`, errors.New(`unknown config key "x.c"`)},
		{`{"a":1,"a":2}`, errors.New(`config key "x.a" is repeated`)},
	} {
		v, err := ParseConfig([]byte(tc.text))
		if err != nil {
			t.Fatal(err)
		}
		err = v.CheckKeys("x.", "a", "b")
		if (err == nil) != (tc.want == nil) || err != nil && err.Error() != tc.want.Error() {
			t.Errorf("%s: got %v, want %v", tc.text, err, tc.want)
		}
	}
}

func TestParseConfigObject(t *testing.T) {
	for _, tc := range []struct {
		config, wantErr string
	}{
		{``, ""},
		{`{"a": 1, "b": [2]}`, ""},
		{`{"a": 1,}`, "config: "},
		{`[1]`, "config must be an object"},
		{`{"a": 1, "c": 2}`, `unknown config key "c"`},
		{`{"a": 1, "a": 2}`, `config key "a" is repeated`},
	} {
		v, err := ParseConfigObject([]byte(tc.config), "a", "b")
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.config, err)
		case tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) && !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want %q", tc.config, err, tc.wantErr)
		case err == nil && v.Kind() != Object:
			t.Errorf("%q: kind %v", tc.config, v.Kind())
		}
	}
}
