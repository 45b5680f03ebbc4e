package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/handler"
)

// TestBinaryListsItsHandlers builds the example as a user would and asks
// it which handlers it has: its own beside the built-in ones.
func TestBinaryListsItsHandlers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command, to build the example: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "myshoal")
	if out, err := exec.Command(goCmd, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "handlers").Output()
	if err != nil {
		t.Fatalf("myshoal handlers: %v", err)
	}
	names := strings.Fields(string(out))
	for _, want := range []string{"uppercase", "set-type"} {
		if !slices.Contains(names, want) {
			t.Errorf("myshoal handlers lacks %s:\n%s", want, out)
		}
	}
	// The binary runs a message through a pipeline that uses its handler,
	// against the example model, as the cluster would.
	dir := t.TempDir()
	pipe := filepath.Join(dir, "pipeline.yaml")
	msg := filepath.Join(dir, "message.json")
	if err := os.WriteFile(pipe, []byte("routes: {default: customers}\nchains:\n  customers:\n    - uppercase: {field: name}\n    - set-type: {type: Customer, version: 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(msg, []byte(`{"id":"c1","name":"grace hopper","email":null,"created":"2024-01-02T03:04:05Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "pipeline", "check", pipe, "--model", "../../../../scenarios/examples/model.yaml", "--message", msg).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `store Customer (version 2, chain customers): {"created":"2024-01-02T03:04:05Z","email":null,"first_name":"GRACE","id":"c1","last_name":"HOPPER"`) {
		t.Errorf("myshoal pipeline check: %v\n%s", err, out)
	}
}

func TestUppercase(t *testing.T) {
	params := map[string]any{"field": "name"}
	in := &handler.Message{ID: "m1", Type: "Customer", Fields: map[string]any{"name": "ada lovelace", "id": "c1"}}
	got, err := uppercase(params, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Fields["name"] != "ADA LOVELACE" || got[0].Fields["id"] != "c1" || got[0].Type != "Customer" {
		t.Errorf("uppercase gave %+v", got)
	}
	// A message without the field passes as it is.
	other := &handler.Message{ID: "m2", Fields: map[string]any{"id": "c2"}}
	if got, err := uppercase(params, other); err != nil || len(got) != 1 || got[0] != other || len(other.Fields) != 1 {
		t.Errorf("a message without the field: %+v, %v", got, err)
	}
	// A field that is not a string fails the message.
	if _, err := uppercase(params, &handler.Message{Fields: map[string]any{"name": json.Number("5")}}); err == nil || err.Error() != `field "name" is the number 5, not a string` {
		t.Errorf("a number field: %v", err)
	}
}

func TestCheckUppercase(t *testing.T) {
	if err := checkUppercase(map[string]any{"field": "name"}); err != nil {
		t.Errorf("{field: name}: %v", err)
	}
	for _, tc := range []struct {
		params any
		want   string
	}{
		{nil, "want {field: NAME}, got nothing"},
		{"name", `want {field: NAME}, got the string "name"`},
		{[]any{"name"}, "want {field: NAME}, got a list"},
		{map[string]any{}, "field: want the name of a field, got nothing"},
		{map[string]any{"field": ""}, `field: want the name of a field, got the string ""`},
		{map[string]any{"field": json.Number("3")}, "field: want the name of a field, got the number 3"},
		{map[string]any{"field": true}, "field: want the name of a field, got the boolean true"},
		{map[string]any{"field": "name", "feild": "x", "zz": "y"}, `unknown parameter "feild": uppercase takes only field`},
	} {
		if err := checkUppercase(tc.params); err == nil || err.Error() != tc.want {
			t.Errorf("params %#v: error %v, want %q", tc.params, err, tc.want)
		}
	}
}

// TestPipeline takes the registered handler through core/handler as the
// engine does: a pipeline file naming it, parsed and run.
func TestPipeline(t *testing.T) {
	p, err := handler.Parse("pipeline.yaml", []byte(`
routes:
  default: customers
chains:
  customers:
    - set-type: Customer
    - uppercase: {field: name}
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	out := p.Run(&handler.Input{ID: "m1", Connector: "crm", Payload: []byte(`{"id":"c1","name":"Grace Hopper"}`)}, nil, now)
	if out.Failure != nil {
		t.Fatalf("failed: %+v", out.Failure)
	}
	if len(out.Objects) != 1 || out.Objects[0].Type != "Customer" || string(out.Objects[0].Value) != `{"id":"c1","name":"GRACE HOPPER"}` {
		t.Errorf("objects %+v", out.Objects)
	}

	out = p.Run(&handler.Input{ID: "m2", Connector: "crm", Payload: []byte(`{"id":"c2","name":7}`)}, nil, now)
	if f := out.Failure; f == nil || f.Handler != "uppercase" || f.Step != 1 || !strings.Contains(f.Reason, `field "name" is the number 7, not a string`) {
		t.Errorf("a number name: %+v, want a failure at step 1 (uppercase)", out.Failure)
	}

	_, err = handler.Parse("pipeline.yaml", []byte(`
routes:
  default: customers
chains:
  customers:
    - set-type: Customer
    - uppercase: {feild: name}
`))
	if err == nil || !strings.Contains(err.Error(), "pipeline.yaml:7:") || !strings.Contains(err.Error(), "field: want the name of a field") {
		t.Errorf("a step without field: %v, want an error at line 7", err)
	}
}
