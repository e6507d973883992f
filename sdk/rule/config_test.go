package rule

import (
	"reflect"
	"testing"
)

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"n":8,"f":0.5,"s":"x","b":true,"list":["a",1,"b"],"obj":{"deep":{"v":3}},"n":9,"big":1e3}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"int (last duplicate wins)", cfg.Get("n").Int(0), int64(9)},
		{"float", cfg.Get("f").Float(0), 0.5},
		{"string", cfg.Get("s").String(""), "x"},
		{"bool", cfg.Get("b").Bool(false), true},
		{"strings skip non-strings", cfg.Get("list").Strings(nil), []string{"a", "b"}},
		{"nested", cfg.Get("obj").Get("deep").Get("v").Int(0), int64(3)},
		{"exponent as int", cfg.Get("big").Int(0), int64(1000)},
		{"missing gives default", cfg.Get("nope").Get("x").Int(42), int64(42)},
		{"mistyped gives default", cfg.Get("s").Int(7), int64(7)},
		{"has", cfg.Has("obj") && !cfg.Has("nope"), true},
		{"keys in order", cfg.Keys(), []string{"n", "f", "s", "b", "list", "obj", "n", "big"}},
		{"index", cfg.Get("list").Index(1).Int(0), int64(1)},
		{"index out of range", cfg.Get("list").Index(9).Kind(), Missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Fatalf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestParseConfigEdges(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		kind    Kind
		wantErr bool
	}{
		{"empty is an object", "", Object, false},
		{"white space is an object", " \n", Object, false},
		{"null", "null", Null, false},
		{"array", "[1,2]", Array, false},
		{"bad", "{", Missing, true},
		{"trailing garbage", "{} x", Missing, true},
		{"too deep", string(make([]byte, 0)) + deep(100), Missing, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ParseConfig([]byte(tt.in))
			if (err != nil) != tt.wantErr || v.Kind() != tt.kind {
				t.Fatalf("kind %v err %v", v.Kind(), err)
			}
		})
	}
}

func deep(n int) string {
	s := ""
	for range n {
		s += "["
	}
	for range n {
		s += "]"
	}
	return s
}
