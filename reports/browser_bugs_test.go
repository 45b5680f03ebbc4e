//go:build shoalbugs

package reports_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/scenarios/library"
)

// TestBrowserFailingRun opens the report of a run that a planted bug
// (a leader acknowledging writes before they commit) makes invalid: the
// header names the first bad operation, the timeline highlights it and
// has scrolled it into view, and porcupine's visualization sits beside
// the report.
func TestBrowserFailingRun(t *testing.T) {
	ctx := browser(t)
	s, err := library.Load("bridge")
	if err != nil {
		t.Fatal(err)
	}
	dir, o := simRun(t, s, 1, "ack-before-commit")
	if o.Results.Verdict != checker.Invalid {
		t.Fatalf("the run is %s, want invalid", o.Results.Verdict)
	}
	var first *checker.Culprit
	var firstChecker string
	for _, r := range o.Results.Checkers {
		if r.Verdict == checker.Invalid && r.First != nil {
			first, firstChecker = r.First, r.Checker
			break
		}
	}
	if first == nil || first.Op == nil {
		t.Fatalf("no checker named a first bad operation: %+v", o.Results.Checkers)
	}
	p := load(t, ctx, filepath.Join(dir, "report.html"))
	p.screenshot("loaded")

	if got := p.text("#verdict"); got != "invalid" {
		t.Errorf("verdict %q, want invalid", got)
	}
	header := p.text("#first-bad")
	if !strings.Contains(header, first.What) || !strings.Contains(header, firstChecker) {
		t.Errorf("the header reads %q, want the first bad operation %q from %s", header, first.What, firstChecker)
	}
	if got := p.attr("#first-bad-op", "class"); !strings.Contains(got, "bad") {
		t.Errorf("the first bad operation's bar has class %q, want it highlighted", got)
	}
	inView := eval[bool](p, "in view", "#first-bad-op", `(() => {
		const r = document.getElementById("first-bad-op").getBoundingClientRect();
		return r.top >= 0 && r.bottom <= window.innerHeight;
	})()`)
	if !inView {
		t.Error("the page did not scroll the first bad operation into view")
	}
	// Hovering it describes it.
	p.clickAt("#first-bad-op", 0.5, 0.5)
	if tip := p.text("#tooltip"); !strings.Contains(tip, "the first bad operation") || !strings.Contains(tip, first.Op.F) {
		t.Errorf("the first bad operation's tooltip reads %q", tip)
	}
	if got := p.attr("#linviz", "href"); got != "linearizability.html" {
		t.Errorf("the report links %q, want linearizability.html beside it", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "linearizability.html")); err != nil {
		t.Error(err)
	}
	if n, drawn := p.count("#timeline rect.op"), p.attr("#timeline", "data-drawn"); drawn == "0" || drawn != strconv.Itoa(n) {
		t.Errorf("the timeline says %s operations drawn and draws %d", drawn, n)
	}
	noErrors(t, p)
}
