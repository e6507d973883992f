package config

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestSchemaMatchesLoader keeps api/config/config.schema.json in step with the keys the
// loader accepts: the same properties, at every level.
func TestSchemaMatchesLoader(t *testing.T) {
	raw, err := os.ReadFile("../../api/config/config.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	compare(t, "", reflect.TypeOf(File{}), schema)
}

func compare(t *testing.T, at string, typ reflect.Type, schema map[string]any) {
	t.Helper()
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		typ = typ.Elem()
		if items, ok := schema["items"].(map[string]any); ok {
			schema = items
		}
	}
	if typ.Kind() != reflect.Struct || typ == reflect.TypeOf(Duration(0)) {
		return
	}
	props, _ := schema["properties"].(map[string]any)
	var fromCode, fromSchema []string
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		fromCode = append(fromCode, tag)
		sub, ok := props[tag].(map[string]any)
		if !ok {
			continue
		}
		compare(t, at+"."+tag, f.Type, sub)
	}
	for k := range props {
		fromSchema = append(fromSchema, k)
	}
	sort.Strings(fromCode)
	sort.Strings(fromSchema)
	if strings.Join(fromCode, ",") != strings.Join(fromSchema, ",") {
		t.Errorf("%s: loader keys %v, schema properties %v", at, fromCode, fromSchema)
	}
	if schema["additionalProperties"] != false {
		t.Errorf("%s: the schema must refuse unknown keys as the loader does", at)
	}
}
