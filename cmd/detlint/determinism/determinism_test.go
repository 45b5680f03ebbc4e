package determinism

import (
	"bytes"
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"
)

// setFlag sets one of the Analyzer's flags for the duration of the test.
func setFlag(t *testing.T, name, value string) {
	t.Helper()
	old := Analyzer.Flags.Lookup(name).Value.String()
	if err := Analyzer.Flags.Set(name, value); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Analyzer.Flags.Set(name, old) })
}

// TestAnalyzer checks each testdata package against its "// want"
// comments. Those under det/ are in scope and exercise one rule each, with
// flagged and accepted uses side by side; det/live and outside break every
// rule and must produce nothing, and so must det/goroutine's test file.
func TestAnalyzer(t *testing.T) {
	setFlag(t, "scope", "det")
	setFlag(t, "exclude", "det/live")
	for _, pkg := range []string{
		"det/goroutine", "det/channel", "det/select", "det/sync", "det/time",
		"det/rand", "det/cryptorand", "det/maphash", "det/os", "det/net",
		"det/maprange", "det/directive", "det/live", "outside",
	} {
		t.Run(pkg, func(t *testing.T) {
			analysistest.Run(t, analysistest.TestData(), Analyzer, pkg)
		})
	}
}

func TestDefaultScope(t *testing.T) {
	for path, want := range map[string]bool{
		"github.com/shoaldb/shoal/core":              true,
		"github.com/shoaldb/shoal/core/env":          true,
		"github.com/shoaldb/shoal/core/raft/log":     true,
		"github.com/shoaldb/shoal/simnet":            true,
		"github.com/shoaldb/shoal/simnet/disk":       true,
		"github.com/shoaldb/shoal/core/live":         false,
		"github.com/shoaldb/shoal/core/live/server":  false,
		"github.com/shoaldb/shoal/core/liveness":     true,
		"github.com/shoaldb/shoal/corefoo":           false,
		"github.com/shoaldb/shoal/cmd/detlint":       false,
		"github.com/shoaldb/shoal":                   false,
		"github.com/cockroachdb/pebble/v2/vfs":       false,
		"github.com/shoaldb/shoal/simnetwork/router": false,
	} {
		if got := inScope(path); got != want {
			t.Errorf("inScope(%q) = %v, want %v", path, got, want)
		}
	}
}

// TestListDirectives lists the directives of testdata/listing, a module
// named like shoal's, under the default scope: core/live, cmd, test files,
// nested testdata and malformed directives stay out of the list.
func TestListDirectives(t *testing.T) {
	var out bytes.Buffer
	if err := ListDirectives(&out, []string{"testdata/listing"}); err != nil {
		t.Fatal(err)
	}
	const want = `testdata/listing/core/raft/raft.go:5: sync: pebble calls the FS from its own goroutines
testdata/listing/core/raft/raft.go:9: unordered: sorted right after
testdata/listing/core/raft/raft.go:13: goroutine: pebble flushes in the background
testdata/listing/core/raft/z.go:3: cryptorand: raft draws election jitter from Reader
testdata/listing/simnet/world.go:3: cryptorand: the world swaps Reader for a seeded stream
`
	if got := out.String(); got != want {
		t.Errorf("ListDirectives:\ngot:\n%s\nwant:\n%s", got, want)
	}
}
