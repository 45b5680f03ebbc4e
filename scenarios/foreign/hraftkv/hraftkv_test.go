// hashicorp/raft draws its timeouts from math/rand's global source, and
// hraftkv seeds it from each run's seed (SeedGlobalRand), which only
// works with rand.Seed restored.

//go:debug randseednop=0

package hraftkv_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/reports"
	"github.com/shoaldb/shoal/scenarios/foreign"
	"github.com/shoaldb/shoal/scenarios/foreign/hraftkv"
	"github.com/shoaldb/shoal/scenarios/library"
	"github.com/shoaldb/shoal/scenarios/rundir"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// run runs a library scenario against hraftkv on seed, into a new run
// directory under dir (none if dir is empty).
func run(t *testing.T, name string, seed uint64, dir string) *foreign.Outcome {
	t.Helper()
	s, err := library.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return runScenario(t, s, hraftkv.Target(), seed, dir)
}

func runScenario(t *testing.T, s *scenario.Scenario, target foreign.Target, seed uint64, dir string) *foreign.Outcome {
	t.Helper()
	if dir != "" {
		if err := rundir.Create(dir); err != nil {
			t.Fatal(err)
		}
	}
	commit := *foreignCommit
	if commit == "" {
		commit = "unknown"
	}
	o, err := foreign.Run(t, s, target, foreign.Options{Seed: seed, Dir: dir, Version: "go test", Commit: commit,
		Command: fmt.Sprintf("go test ./scenarios/foreign/hraftkv -run '^TestForeign$' -foreign -foreign.scenarios %s -foreign.seed %d", s.Name, seed)})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// describe is one line about a run: its verdict, speed and leaders.
func describe(o *foreign.Outcome) string {
	return fmt.Sprintf("%s: %s virtual in %s wall (%.0f× real time), checked and written in %s; %d trace events; leaders: %v",
		o.Results.Verdict, o.Virtual.Round(time.Millisecond), o.Wall.Round(time.Millisecond), o.Speed(),
		o.Check.Round(time.Millisecond), o.Meta.TraceEvents, o.Leaders)
}

// agreement compares the leader histories of two runs of one seed: order
// says whether they elected the same leaders for the same terms in the
// same order, instants whether they did so at the same virtual instants
// too.
func agreement(a, b []foreign.LeaderChange) (order, instants bool, what string) {
	i := foreign.FirstDifference(a, b)
	if i < 0 {
		return true, true, fmt.Sprintf("identical leader histories (%d elections, the same leaders and terms at the same instants)", len(a))
	}
	who := func(h []foreign.LeaderChange) string {
		var s []string
		for _, c := range h {
			s = append(s, fmt.Sprintf("%s@%d", c.Leader, c.Term))
		}
		return strings.Join(s, " ")
	}
	at := func(h []foreign.LeaderChange) string {
		if i >= len(h) {
			return "none"
		}
		return h[i].String()
	}
	order = who(a) == who(b)
	how := "the same leaders and terms in the same order, at other instants"
	if !order {
		how = fmt.Sprintf("different leaders or terms (%s against %s)", who(a), who(b))
	}
	return order, false, fmt.Sprintf("leader histories differ at election %d (%s against %s): %s", i+1, at(a), at(b), how)
}

// agreements counts, over pairs of runs of one seed, those that agreed
// on the leader history: in order, and at the same instants too.
type agreements struct{ pairs, order, instants int }

func (g *agreements) add(a, b []foreign.LeaderChange) string {
	order, instants, what := agreement(a, b)
	g.pairs++
	if order {
		g.order++
	}
	if instants {
		g.instants++
	}
	return what
}

func (g agreements) String() string {
	return fmt.Sprintf("two runs of one seed elected the same leaders for the same terms in the same order in %d of %d pairs, "+
		"and at the same virtual instants too in %d of %d (GOMAXPROCS %d)", g.order, g.pairs, g.instants, g.pairs, runtime.GOMAXPROCS(0))
}

// TestLibraryScenarios runs leader isolation, the 3/2 split and the
// rolling kill against hraftkv, each on seed 1 twice, and checks every
// run: its verdict is valid, linearizable included; its run directory
// holds the trace the meta describes, the history, the results and a
// report whose data shows the scenario's fault bands and the leader
// changes the trace records, and which says that replay is not exact.
// It logs each run's speed (virtual seconds per wall second) and whether
// the two runs of a seed elected the same leaders, in order and at the
// same instants: they need not (hraftkv.go says why).
func TestLibraryScenarios(t *testing.T) {
	var agreed agreements
	names := []string{"leader-isolation", "majority-split", "rolling-kill"}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			var runs []*foreign.Outcome
			for i := range 2 {
				dir := filepath.Join(t.TempDir(), "run")
				o := run(t, name, 1, dir)
				t.Logf("%s seed 1, run %d: %s", name, i+1, describe(o))
				checkRun(t, name, o, dir)
				o.Records = nil // a run's trace is large; its leaders are what is compared
				runs = append(runs, o)
			}
			t.Logf("%s seed 1, 2 runs: %s", name, agreed.add(runs[0].Leaders, runs[1].Leaders))
		})
	}
	t.Log(agreed)
}

// checkRun checks one run of a library scenario and its run directory.
func checkRun(t *testing.T, name string, o *foreign.Outcome, dir string) {
	t.Helper()
	if o.Results.Verdict != checker.Valid {
		for _, c := range o.Results.Checkers {
			t.Logf("  %-13s %-8s %s", c.Checker, c.Verdict, c.Explanation)
		}
		t.Errorf("%s: verdict %s, want valid (the run is in %s)", name, o.Results.Verdict, dir)
	}
	lin := false
	for _, c := range o.Results.Checkers {
		if c.Checker == scenario.CheckLinearizable {
			lin = c.Verdict == checker.Valid
		}
	}
	if !lin {
		t.Errorf("%s: the linearizable check did not say valid", name)
	}
	// The trace is the one the meta describes.
	trace, err := os.ReadFile(filepath.Join(dir, rundir.TraceFile))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(trace)
	if got := hex.EncodeToString(sum[:]); got != o.Meta.TraceSHA256 {
		t.Errorf("%s: trace.jsonl has sha256 %s, meta.json says %s", name, got, o.Meta.TraceSHA256)
	}
	var meta rundir.Meta
	if err := rundir.ReadJSON(dir, rundir.MetaFile, &meta); err != nil || !strings.Contains(meta.Foreign, "hashicorp/raft") {
		t.Errorf("%s: meta.json does not name the foreign target (so sim replay would run it on shoal): %v %+v", name, err, meta)
	}
	if n := int64(bytes.Count(trace, []byte("\n"))); n != o.Meta.TraceEvents || n < 10_000 {
		t.Errorf("%s: trace.jsonl has %d lines, meta.json says %d (and a whole run has tens of thousands)", name, n, o.Meta.TraceEvents)
	}
	for _, kind := range []string{"net.recv", "raft.state", "raft.apply", "raft.ack", "client.invoke", "kv.request", "sm.digest", "nemesis.start"} {
		if !bytes.Contains(trace, []byte(`"kind":"`+kind+`"`)) {
			t.Errorf("%s: the trace holds no %s record", name, kind)
		}
	}
	for _, f := range []string{rundir.ScenarioFile, rundir.MetaFile, rundir.HistoryFile, rundir.ResultsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	d, html := reportData(t, filepath.Join(dir, rundir.ReportFile))
	if !strings.Contains(html, `id="foreign"><b>Replay is not exact.</b>`) || d.Foreign == nil || !strings.Contains(d.Foreign.Target, "hashicorp/raft "+hraftkv.RaftVersion) {
		t.Errorf("%s: the report does not say that replay is not exact for hashicorp/raft (data: %+v)", name, d.Foreign)
	}
	checkFaultBands(t, name, d)
	checkLeaders(t, name, d, o)
	checkAcks(t, name, o)
}

// checkAcks checks that only leaders trace acknowledgements (raft.ack),
// each for the term it led.
func checkAcks(t *testing.T, name string, o *foreign.Outcome) {
	t.Helper()
	type led struct {
		node env.NodeID
		term int64
	}
	leaders := map[led]bool{}
	for _, l := range o.Leaders {
		leaders[led{l.Leader, l.Term}] = true
	}
	acks := 0
	for _, r := range o.Records {
		if r.Kind != "raft.ack" {
			continue
		}
		acks++
		if term, _ := r.Int("term"); !leaders[led{r.Node, term}] {
			t.Errorf("%s: %s traced an acknowledgement for term %d, which it did not lead: %+v", name, r.Node, term, r)
			return
		}
	}
	if acks == 0 {
		t.Errorf("%s: no leader traced an acknowledgement", name)
	}
}

// reportData reads the data a report embeds, and the page.
func reportData(t *testing.T, path string) (*reports.Data, string) {
	t.Helper()
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<script type="application/json" id="data">(.*?)</script>`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("%s embeds no data", path)
	}
	var d reports.Data
	if err := json.Unmarshal(m[1], &d); err != nil {
		t.Fatalf("%s: its data: %v", path, err)
	}
	return &d, string(page)
}

// checkFaultBands checks the report's fault bands against what each
// scenario schedules: the band of every occurrence, from its start to
// its end, having taken effect.
func checkFaultBands(t *testing.T, name string, d *reports.Data) {
	t.Helper()
	type band struct {
		fault       string
		start, stop time.Duration
	}
	var want []band
	switch name {
	case "leader-isolation":
		want = []band{{"partition", 5 * time.Second, 15 * time.Second}}
	case "majority-split":
		want = []band{{"partition", 5 * time.Second, 15 * time.Second}}
	case "rolling-kill":
		for i := range 5 {
			at := time.Duration(2+6*i) * time.Second
			want = append(want, band{"kill", at, at + 4*time.Second})
		}
	}
	var got []band
	for _, f := range d.Faults {
		if !f.Effect {
			t.Errorf("%s: the report's fault %s at %dµs took no effect: %s", name, f.Fault, f.Start, f.Why)
		}
		got = append(got, band{f.Fault, time.Duration(f.Start) * time.Microsecond, time.Duration(f.Stop) * time.Microsecond})
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: the report's fault bands are %v, want %v", name, got, want)
	}
}

// checkLeaders checks the report's leader changes: those the trace
// records, the election that follows each loss of a leader the scenario
// causes included.
func checkLeaders(t *testing.T, name string, d *reports.Data, o *foreign.Outcome) {
	t.Helper()
	var got []foreign.LeaderChange
	for _, l := range d.Leaders {
		got = append(got, foreign.LeaderChange{At: time.Duration(l.Time) * time.Microsecond, Leader: env.NodeID(d.Strings[l.Node]), Term: l.Term})
	}
	want := slices.Clone(o.Leaders)
	for i := range want {
		want[i].At = want[i].At.Truncate(time.Microsecond)
	}
	if !slices.Equal(got, want) || len(got) == 0 {
		t.Errorf("%s: the report's leader changes are %v, want the trace's %v", name, got, want)
	}
	switch name {
	case "leader-isolation":
		// The leader is cut off at 5s: another is elected while it is.
		var cut env.NodeID
		for _, f := range d.Faults {
			side, _, _ := strings.Cut(f.What, "|") // "isolate-leader: n3|n1,n2,n4,n5"
			cut = env.NodeID(strings.TrimPrefix(side, "isolate-leader: "))
		}
		if !slices.ContainsFunc(got, func(l foreign.LeaderChange) bool {
			return l.Leader != cut && l.At > 5*time.Second && l.At < 15*time.Second
		}) {
			t.Errorf("%s: no leader other than %s was elected while it was cut off: %v", name, cut, got)
		}
	case "rolling-kill":
		// Every instance is killed once, the leaders among them.
		if len(got) < 2 {
			t.Errorf("%s: the leader was killed, and no other was elected: %v", name, got)
		}
	}
}

// TestLinkFaults runs hraftkv through a link fault that loses and delays
// messages between every pair of instances for 5s, and one that slows
// the links to n1 only: the run stays valid, the faults took effect, and
// the trace shows the links set and messages lost and delayed.
func TestLinkFaults(t *testing.T) {
	s, err := scenario.Parse("lossy.yaml", []byte(`name: lossy
cluster: {instances: 3}
network: {latency: {dist: uniform, min: 1ms, max: 3ms}}
workload: {kind: kv, clients: 4, keys: 8, rate: 80}
duration: 10s
nemesis:
  - {at: 2s, fault: link, loss: 0.3, delay: {dist: uniform, min: 20ms, max: 50ms}, for: 5s}
  - {at: 3s, fault: link, to: [n1], delay: {dist: constant, min: 100ms}, one_way: true, for: 2s}
final: {recover: 3s}
`))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	o := runScenario(t, s, hraftkv.Target(), 1, dir)
	t.Logf("lossy seed 1: %s", describe(o))
	if o.Results.Verdict != checker.Valid {
		for _, c := range o.Results.Checkers {
			t.Logf("  %-13s %-8s %s", c.Checker, c.Verdict, c.Explanation)
		}
		t.Errorf("verdict %s, want valid", o.Results.Verdict)
	}
	trace, err := os.ReadFile(filepath.Join(dir, rundir.TraceFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kind":"net.link","from":"n1","to":"n2","dist":"uniform","min":21000000,"max":53000000,"loss":0.3`,
		`"kind":"net.link","from":"n2","to":"n1","dist":"constant","min":101000000,`, `"why":"loss"`} {
		if !bytes.Contains(trace, []byte(want)) {
			t.Errorf("the trace lacks %s", want)
		}
	}
	// Some message took the fault's delay: sent and received at least
	// 20ms apart.
	slow := false
	for _, r := range o.Records {
		if sent, ok := r.Int("sent"); ok && r.Kind == "net.recv" && r.Time-sent >= int64(20*time.Millisecond) {
			slow = true
			break
		}
	}
	if !slow {
		t.Error("no message took 20ms or more to arrive")
	}
}

// TestSnapshotPartition runs the built-in snapshot-partition scenario,
// in which n3 is down while the group appends thousands of entries and
// is cut off again as it catches up: hraftkv's snapshots (Config) must
// bring it back. The run is valid, and n3 received an InstallSnapshot
// and installed it, from a leader that took a snapshot.
func TestSnapshotPartition(t *testing.T) {
	o := run(t, "snapshot-partition", 1, "")
	t.Logf("snapshot-partition seed 1: %s", describe(o))
	if o.Results.Verdict != checker.Valid {
		for _, c := range o.Results.Checkers {
			t.Logf("  %-13s %-8s %s", c.Checker, c.Verdict, c.Explanation)
		}
		t.Errorf("verdict %s, want valid", o.Results.Verdict)
	}
	count := map[string]int{}
	for _, r := range o.Records {
		switch {
		case r.Kind == "net.recv" && r.Node == "n3":
			if msg, _ := r.Str("msg"); msg == "InstallSnapshotRequest" {
				count["n3 received an InstallSnapshotRequest"]++
			}
		case r.Kind == "raft.snapshot.install" && r.Node == "n3":
			count["n3 installed a snapshot"]++
		case r.Kind == "raft.snapshot.send":
			if to, _ := r.Str("to"); to == "n3" {
				count["a leader sent n3 a snapshot"]++
			}
		case r.Kind == "raft.compact":
			count["a node took a snapshot"]++
		}
	}
	for _, want := range []string{"a node took a snapshot", "a leader sent n3 a snapshot", "n3 received an InstallSnapshotRequest", "n3 installed a snapshot"} {
		if count[want] == 0 {
			t.Errorf("no record says %s", want)
		}
	}
	t.Logf("%v", count)
}
