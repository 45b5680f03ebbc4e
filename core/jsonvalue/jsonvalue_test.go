package jsonvalue

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestKind(t *testing.T) {
	for v, want := range map[any]string{nil: "null", true: "a boolean", json.Number("1"): "a number", "s": "a string", 3: "a Go int"} {
		if got := Kind(v); got != want {
			t.Errorf("Kind(%#v) = %q, want %q", v, got, want)
		}
	}
	if Kind([]any{}) != "an array" || Kind(map[string]any{}) != "an object" {
		t.Error("arrays and objects")
	}
}

func TestCopySharesNothing(t *testing.T) {
	in := map[string]any{"a": []any{map[string]any{"b": json.Number("1")}, "x"}, "c": nil}
	out := Copy(in).(map[string]any)
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("copy %v differs from %v", out, in)
	}
	out["a"].([]any)[0].(map[string]any)["b"] = "changed"
	if in["a"].([]any)[0].(map[string]any)["b"] != json.Number("1") {
		t.Fatal("the copy shares an object with the original")
	}
	if CopyObject(nil) != nil {
		t.Fatal("a nil object copies to a non-nil one")
	}
}
