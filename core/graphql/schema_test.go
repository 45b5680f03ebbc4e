package graphql

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestSDLGolden pins the schema of the example model.
func TestSDLGolden(t *testing.T) {
	s := exampleSchema(t)
	got := s.SDL()
	if got != SDL(s.Model()) {
		t.Fatal("SDL is not stable")
	}
	const file = "testdata/example.graphql"
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("SDL differs from %s (go test -run TestSDLGolden -update to accept):\n%s", file, got)
	}
}
