package reports_test

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/reports"
	"github.com/shoaldb/shoal/scenarios/runner"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

var large = flag.Bool("large", false, "also build and open the report of a 100k-operation run (make test-long)")

// simRun runs a scenario into a fresh run directory and returns it with
// the outcome.
func simRun(t *testing.T, s *scenario.Scenario, seed uint64, bugs ...string) (string, *runner.Outcome) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	o, err := runner.Run(s, runner.Options{Seed: seed, Bugs: bugs, Dir: dir, Command: fmt.Sprintf("shoal sim run %s --seed %d", s.Name, seed)})
	if err != nil {
		t.Fatal(err)
	}
	return dir, o
}

func parseScenario(t *testing.T, src string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func invokes(records []env.Record) int {
	n := 0
	for i := range records {
		if records[i].Kind == "client.invoke" {
			n++
		}
	}
	return n
}

// Timeline geometry, as report.js draws it: the SVG is W wide, and time
// runs from x = L over PW.
const svgW, svgL, svgPW = 1200.0, 86.0, 1200.0 - 86 - 12

// fractionAt is where, across the timeline's SVG, the moment t (µs) lies
// when the whole run of end µs is in view.
func fractionAt(t, end int64) float64 { return (svgL + float64(t)/float64(end)*svgPW) / svgW }

func noErrors(t *testing.T, p interface{ errors() []string }) {
	t.Helper()
	for _, e := range p.errors() {
		t.Errorf("browser console: %s", e)
	}
}

// TestBrowserPassingRun opens the report of a valid run with a partition,
// and checks what a person would: the verdict, every operation drawn, the
// fault's details on a click, and time travel into and out of the
// partition.
func TestBrowserPassingRun(t *testing.T) {
	ctx := browser(t)
	s := parseScenario(t, `name: browser-pass
description: Three instances, four clients, the data leader cut off from 2s to 4s.
cluster: {instances: 3, replication_factor: 3}
workload: {kind: kv, clients: 4, keys: 4, rate: 80}
duration: 6s
nemesis:
  - {at: 2s, for: 2s, fault: partition, shape: isolate-leader, group: data}
final: {heal: true, recover: 2s}
expect: valid
`)
	dir, o := simRun(t, s, 1)
	if o.Results.Verdict != checker.Valid {
		t.Fatalf("the run is %s, want valid: %+v", o.Results.Verdict, o.Results.Checkers)
	}
	p := load(t, ctx, filepath.Join(dir, "report.html"))
	p.screenshot("loaded")

	if got := p.text("#verdict"); got != "valid" {
		t.Errorf("verdict %q, want valid", got)
	}
	if n := p.count("#first-bad"); n != 0 {
		t.Error("a valid run's report names a first bad operation")
	}
	ops := invokes(o.Records)
	if got := p.count("#timeline rect.op"); got != ops {
		t.Errorf("%d operations drawn, want all %d of the history", got, ops)
	}
	if got := p.attr("#timeline", "data-drawn"); got != strconv.Itoa(ops) {
		t.Errorf("data-drawn %s, want %d", got, ops)
	}
	for _, name := range []string{"linearizable", "raft-safety", "durability", "partitions"} {
		if p.count(`tr[data-checker="`+name+`"]`) != 1 {
			t.Errorf("no verdict row for %s", name)
		}
	}

	// The fault band: its details name what the nemesis did.
	var what string
	var start, stop int64
	for _, r := range o.Records {
		switch r.Kind {
		case "nemesis.start":
			what, _ = r.Str("what")
			start = r.Time / 1000
		case "nemesis.stop":
			stop = r.Time / 1000
		}
	}
	if p.count("#timeline rect.band") != 1 {
		t.Fatalf("%d fault bands drawn, want 1", p.count("#timeline rect.band"))
	}
	p.click("#timeline rect.band")
	if detail := p.text("#fault-detail"); !strings.Contains(detail, what) || !strings.Contains(detail, "took effect") {
		t.Errorf("the fault's details read %q, want %q and whether it took effect", detail, what)
	}
	p.screenshot("fault")

	// Time travel: a moment inside the partition shows the leader cut
	// off; one after the heal shows every link open.
	end := o.Records[len(o.Records)-1].Time / 1000
	travel := func(at int64) (time int64, cut int) {
		p.clickAt("#timeline svg", fractionAt(at, end), 0.97)
		got, err := strconv.ParseInt(p.attr("#travel", "data-time"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return got, p.count("#reachability td.cut")
	}
	mid := (start + stop) / 2
	got, cut := travel(mid)
	if math.Abs(float64(got-mid)) > float64(end)/500 {
		t.Errorf("clicked at %dµs, travelled to %dµs", mid, got)
	}
	// Three instances, the leader cut off from two, both ways.
	if cut != 4 {
		t.Errorf("inside the partition %d links are cut, want 4", cut)
	}
	if rows := p.count("#travel tr[data-node]"); rows != 3 {
		t.Errorf("time travel shows %d instances, want 3", rows)
	}
	if !strings.Contains(p.text("#travel"), "Faults in force: partition") {
		t.Errorf("time travel inside the partition does not show it in force: %q", p.text("#travel"))
	}
	p.screenshot("travel")
	if _, cut := travel(stop + 500_000); cut != 0 {
		t.Errorf("after the heal %d links are cut, want none", cut)
	}
	noErrors(t, p)
}

// TestBrowserReportSizes opens reports of runs of about 1k and 10k
// operations (and, with -large, 100k): each opens without a console error
// and stays under 10 MB. The log gives each report's generation time and
// size.
func TestBrowserReportSizes(t *testing.T) {
	ctx := browser(t)
	sizes := []struct {
		name         string
		clients      int
		rate         float64
		duration     string
		keys         int
		wantAtLeast  int
		needsLargeOK bool
	}{
		{"1k", 4, 100, "10s", 8, 900, false},
		{"10k", 16, 500, "20s", 64, 9_000, false},
		{"100k", 64, 2000, "50s", 512, 90_000, true},
	}
	for _, sz := range sizes {
		t.Run(sz.name, func(t *testing.T) {
			if sz.needsLargeOK && !*large {
				t.Skip("a 100k-operation run takes minutes: run with -large (make test-long does)")
			}
			s := parseScenario(t, fmt.Sprintf(`name: size-%s
cluster: {instances: 5, replication_factor: 5}
workload: {kind: kv, clients: %d, keys: %d, rate: %g, timeout: 1s}
duration: %s
nemesis:
  - {at: 3s, for: 3s, fault: partition, shape: isolate-leader, group: data}
final: {heal: true, recover: 3s}
checks: [raft-safety, partitions]
`, sz.name, sz.clients, sz.keys, sz.rate, sz.duration))
			dir, o := simRun(t, s, 1)
			ops := invokes(o.Records)
			if ops < sz.wantAtLeast {
				t.Fatalf("the run made %d operations, want at least %d", ops, sz.wantAtLeast)
			}
			// Generation time, measured apart from the run.
			started := time.Now()
			var out bytes.Buffer
			err := reports.Write(&out, reports.Run{Scenario: s.Name, Verdict: o.Results.Verdict, Results: o.Results.Checkers, Trace: o.Records})
			took := time.Since(started)
			if err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(filepath.Join(dir, "report.html"))
			if err != nil {
				t.Fatal(err)
			}
			if info.Size() > 10_000_000 {
				t.Errorf("the report of %d operations is %d bytes, over 10 MB", ops, info.Size())
			}
			t.Logf("%d operations, %d trace records: report %.2f MB, generated in %s", ops, len(o.Records), float64(info.Size())/1e6, took.Round(time.Millisecond))
			p := load(t, ctx, filepath.Join(dir, "report.html"))
			p.screenshot(sz.name)
			drawn, _ := strconv.Atoi(p.attr("#timeline", "data-drawn"))
			total, _ := strconv.Atoi(p.attr("#timeline", "data-total"))
			if total != ops || drawn != p.count("#timeline rect.op") || drawn == 0 {
				t.Errorf("the timeline says %d of %d operations drawn and draws %d; the run made %d", drawn, total, p.count("#timeline rect.op"), ops)
			}
			noErrors(t, p)
		})
	}
}
