package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
)

func TestSweepIndex(t *testing.T) {
	s := Sweep{
		Scenario: "demo", Description: "a <b>bold</b> sweep", Expect: "valid",
		Command: "shoal sim sweep demo --seeds 1..5 --jobs 2", Version: "0.1.0-dev", Commit: "abc123",
		Seeds: "1..5", Jobs: 2, Wall: 95 * time.Second, SeedsPerHour: 189.47, Verdict: checker.Invalid,
		Runs: []SweepRun{
			{Seed: 1, Verdict: checker.Valid, Wall: 1234 * time.Millisecond, Virtual: 43 * time.Second},
			{Seed: 2, Verdict: checker.Unknown, Wall: 2 * time.Second, Error: "worker process 77 died (signal: killed)"},
			{Seed: 3, Verdict: checker.Valid, Wall: 900 * time.Millisecond, Virtual: 43 * time.Second},
			{Seed: 4, Verdict: checker.Invalid, Wall: 1500 * time.Millisecond, Virtual: 43 * time.Second,
				Checker: "linearizable", Explanation: "read of k3 saw 7 after 8 was acknowledged", Report: "seed-4/report.html"},
			{Seed: 5, Verdict: checker.Unknown, Wall: 3 * time.Second, Virtual: 43 * time.Second,
				Checker: "faults", Explanation: "step 1 never took effect", Report: "seed-5/report.html"},
		},
	}
	var out bytes.Buffer
	if err := SweepIndex(&out, s); err != nil {
		t.Fatal(err)
	}
	html := out.String()
	for _, want := range []string{
		`<span class="verdict invalid">invalid</span></h1>`,
		`<b>5</b> seeds</span><span><b>2</b> valid</span><span><b>1</b> invalid</span><span><b>2</b> unknown</span><span class="error"><b>1</b> internal errors</span>`,
		"a &lt;b&gt;bold&lt;/b&gt; sweep",
		"shoal sim sweep demo --seeds 1..5 --jobs 2",
		"1m35s with 2 workers, 189 seeds per hour",
		`<a href="seed-4/report.html">report</a>`,
		`<a href="seed-5/report.html">report</a>`,
		"<b>linearizable</b>: read of k3 saw 7 after 8 was acknowledged",
		"internal error: worker process 77 died (signal: killed)",
		`<td class="num">1.23s</td><td class="num">43s</td>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("index lacks %s", want)
		}
	}
	if strings.Contains(html, "<b>bold</b>") {
		t.Error("the description was not escaped")
	}
	// Failing seeds first: invalid, then unknown, then the valid ones, by
	// seed within each.
	last := -1
	for _, seed := range []string{"4", "2", "5", "1", "3"} {
		i := strings.Index(html, `<td class="num">`+seed+`</td><td><span class="verdict`)
		if i < 0 || i < last {
			t.Fatalf("seed %s is missing or out of order", seed)
		}
		last = i
	}
	// Self-contained: nothing is loaded from elsewhere.
	for _, bad := range []string{"http://", "https://", "<script", "<link", "@import"} {
		if strings.Contains(html, bad) {
			t.Errorf("the index has %q", bad)
		}
	}
	if tot := s.Totals(); tot != (SweepTotals{Seeds: 5, Valid: 2, Invalid: 1, Unknown: 2, Errors: 1}) {
		t.Errorf("totals %+v", tot)
	}
}
