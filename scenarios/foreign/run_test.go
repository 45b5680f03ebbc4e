package foreign_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/scenarios/foreign"
	"github.com/shoaldb/shoal/scenarios/library"
	"github.com/shoaldb/shoal/scenarios/rundir"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// register is a fake target: one map that n1, the leader, serves while it
// is up; the other nodes refuse and name n1. Every unknownEvery-th write
// takes effect and is answered unknown.
type register struct {
	unknownEvery int

	mu      sync.Mutex
	up      map[env.NodeID]bool
	data    map[string]string
	applied uint64
	writes  int
}

func (r *register) target() foreign.Target {
	return foreign.Target{Name: "register", About: "a test's register", NotExact: "It is a fake.", Group: "rs1",
		Kill: "a fake's kill keeps everything", ElectionTimeout: time.Second,
		Start: func(e foreign.Env) (foreign.Cluster, error) {
			r.up, r.data = map[env.NodeID]bool{}, map[string]string{}
			for _, id := range e.Nodes {
				r.up[id] = true
			}
			return r, nil
		}}
}

func (r *register) Kill(id env.NodeID) error    { r.set(id, false); return nil }
func (r *register) Restart(id env.NodeID) error { r.set(id, true); return nil }
func (r *register) Shutdown()                   {}

func (r *register) set(id env.NodeID, up bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.up[id] = up
}

func (r *register) Leader() (env.NodeID, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return "n1", r.up["n1"]
}

func (r *register) Serve(_ context.Context, id env.NodeID, req foreign.Request) foreign.Answer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id != "n1" {
		return foreign.Answer{Status: foreign.Refused, Leader: "n1", Why: "not n1"}
	}
	r.applied++
	cur, ok := r.data[req.Key]
	found := kv.Value{S: cur, Present: ok}
	switch req.F {
	case kv.OpGet:
		return foreign.Answer{Status: foreign.OK, Value: found, Index: r.applied}
	case kv.OpCAS:
		if found != req.Expected {
			return foreign.Answer{Status: foreign.Mismatch, Value: found, Index: r.applied}
		}
		r.data[req.Key] = req.Value
	case kv.OpPut:
		r.data[req.Key] = req.Value
	case kv.OpDelete:
		delete(r.data, req.Key)
	}
	r.writes++
	if r.unknownEvery > 0 && r.writes%r.unknownEvery == 0 {
		return foreign.Answer{Status: foreign.Unknown, Why: "the fake forgot"}
	}
	return foreign.Answer{Status: foreign.OK, Index: r.applied}
}

func (r *register) State(env.NodeID) (uint64, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(r.data)) {
		fmt.Fprintf(h, "%q=%q\n", k, r.data[k])
	}
	return r.applied, hex.EncodeToString(h.Sum(nil)), nil
}

// TestRun runs a scenario against the fake register: the clients find
// the leader through refusals, a write answered unknown is recorded info
// and its client goes on under a new process, a kill takes effect and a
// pause, which a foreign target cannot take, is traced as taking none,
// so the verdict is unknown; the run directory and the report are
// written, and the report says that replay is not exact.
func TestRun(t *testing.T) {
	s, err := scenario.Parse("fake.yaml", []byte(`name: fake
cluster: {instances: 3}
workload: {kind: kv, clients: 2, keys: 3, rate: 40, mix: {read: 0.5, write: 0.3, cas: 0.2}}
duration: 3s
nemesis:
  - {at: 1s, fault: kill, target: n2, for: 1s}
  - {at: 1s, fault: pause, target: n3, for: 1s}
final: {recover: 1s}
`))
	if err != nil {
		t.Fatal(err)
	}
	reg := &register{unknownEvery: 5}
	dir := filepath.Join(t.TempDir(), "run")
	if err := rundir.Create(dir); err != nil {
		t.Fatal(err)
	}
	o, err := foreign.Run(t, s, reg.target(), foreign.Options{Seed: 3, Dir: dir, Command: "the test"})
	if err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]checker.Verdict{}
	for _, c := range o.Results.Checkers {
		verdicts[c.Checker] = c.Verdict
		t.Logf("%-13s %-8s %s", c.Checker, c.Verdict, c.Explanation)
	}
	want := map[string]checker.Verdict{"linearizable": checker.Valid, "raft-safety": checker.NA, "durability": checker.Valid,
		"convergence": checker.Valid, "partitions": checker.Valid, "progress": checker.Valid, "faults": checker.Unknown}
	if !maps.Equal(verdicts, want) || o.Results.Verdict != checker.Unknown {
		t.Errorf("verdicts %v (run %s), want %v (run unknown)", verdicts, o.Results.Verdict, want)
	}
	if len(o.Unapplied) != 2 || !strings.Contains(o.Unapplied[0], "step 2 (pause): not applied") || !strings.HasPrefix(o.Unapplied[1], "kill and restart: a fake's kill") {
		t.Errorf("unapplied %q, want the pause and what a kill keeps", o.Unapplied)
	}
	trace, err := os.ReadFile(filepath.Join(dir, rundir.TraceFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"kind":"foreign.target","target":"a test's register","why":"The Go runtime schedules its goroutines, and their order decides the run. It is a fake."`,
		`"kind":"foreign.unapplied","what":"nemesis step 2 (pause): not applied`,
		`"kind":"node.kill","inc":1`, `"node":"n2","kind":"node.start","inc":2`,
		`"fault":"pause","group":"","targets":"","what":"pause","effect":false,"why":"not applied`,
		`"kind":"net.recv","from":"c1","msg":"kv.request"`, `"kind":"kv.response","client":"c1"`,
		`"kind":"sm.digest"`,
	} {
		if !bytes.Contains(trace, []byte(want)) {
			t.Errorf("the trace lacks %s", want)
		}
	}
	// A write answered unknown is info, and its client goes on under
	// its process number plus the stride (1024).
	h := checker.FromTrace(o.Records)
	infos := 0
	for i, e := range h.Events {
		if e.Type != checker.Info {
			continue
		}
		infos++
		for _, next := range h.Events[i+1:] {
			if next.Type == checker.Invoke && next.Process%1024 == e.Process%1024 {
				if next.Process != e.Process+1024 {
					t.Errorf("after an info as process %d, the client went on as %d, want %d", e.Process, next.Process, e.Process+1024)
				}
				break
			}
		}
	}
	if infos == 0 {
		t.Error("no write was recorded info, though every fifth was answered unknown")
	}
	report, err := os.ReadFile(filepath.Join(dir, rundir.ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(report, []byte(`<b>Replay is not exact.</b> This run is of a test&#39;s register`)) {
		t.Error("the report does not say that replay is not exact")
	}
	var meta rundir.Meta
	if err := rundir.ReadJSON(dir, rundir.MetaFile, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Command != "the test" || meta.Seed != 3 || meta.TraceEvents != int64(len(o.Records)) || meta.VirtualNanos < int64(5*time.Second) {
		t.Errorf("meta %+v", meta)
	}
}

// TestAdapt checks what a foreign target is refused and what it is told
// it cannot do, on the built-in scenarios.
func TestAdapt(t *testing.T) {
	target := (&register{}).target()
	for _, c := range []struct{ name, err, unapplied string }{
		{"leader-isolation", "", ""},
		{"rolling-kill", "", "kill and restart: a fake's kill keeps everything"},
		{"bridge", "", "nemesis step 2 (pause): not applied: a foreign target's goroutines and timers cannot be frozen"},
		{"skewed-leader-isolation", "", "(clock): not applied: every node of a foreign target reads the synctest bubble's one clock"},
		{"lossy-network", "", "(link): not applied: the foreign Net carries each call as over one connection, which never delivers a message twice"},
		{"disk-errors", "", "(disk): not applied"},
		{"config-loses-quorum", "register is one group of every instance", ""},
		{"ingest-leader-isolation", "a data model or a pipeline", ""},
		{"replication-dclink-cut", "a foreign run has one cluster", ""},
	} {
		s, err := library.Load(c.name)
		if err != nil {
			t.Fatal(err)
		}
		_, unapplied, err := foreign.Adapt(s, target)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.unapplied == "" && len(unapplied) > 0:
			t.Errorf("%s: unapplied %q, want none", c.name, unapplied)
		case c.unapplied != "" && !slices.ContainsFunc(unapplied, func(u string) bool { return strings.Contains(u, c.unapplied) }):
			t.Errorf("%s: unapplied %q, want one saying %q", c.name, unapplied, c.unapplied)
		}
	}
}

func TestLeaderHistory(t *testing.T) {
	state := func(t int64, node env.NodeID, group string, term int64, role string) env.Record {
		return env.Record{Time: t, Node: node, Kind: "raft.state", Fields: []env.Field{env.Str("group", group), env.Int("term", term), env.Str("role", role)}}
	}
	trace := []env.Record{
		state(1, "n1", "rs1", 1, "candidate"),
		state(2, "n1", "rs1", 1, "leader"),
		state(3, "n1", "rs1", 1, "leader"), // its commit moved: no new election
		state(4, "n2", "config", 2, "leader"),
		state(5, "n1", "rs1", 1, "follower"),
		state(6, "n3", "rs1", 2, "leader"),
		state(7, "n1", "rs1", 3, "leader"),
	}
	got := foreign.LeaderHistory(trace, "rs1")
	want := []foreign.LeaderChange{{At: 2, Leader: "n1", Term: 1}, {At: 6, Leader: "n3", Term: 2}, {At: 7, Leader: "n1", Term: 3}}
	if !slices.Equal(got, want) {
		t.Errorf("leader history %v, want %v", got, want)
	}
	if i := foreign.FirstDifference(want, want[:2]); i != 2 {
		t.Errorf("FirstDifference of a history and its prefix: %d, want 2", i)
	}
	if i := foreign.FirstDifference(want, want); i != -1 {
		t.Errorf("FirstDifference of a history and itself: %d, want -1", i)
	}
}
