package hraftkv_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/scenarios/foreign"
	"github.com/shoaldb/shoal/scenarios/foreign/hraftkv"
	"github.com/shoaldb/shoal/scenarios/rundir"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// plantedRead is hraftkv with one wrong answer: its 50th read of a key
// that holds a value reads a value no client ever wrote.
type plantedRead struct {
	foreign.Cluster
	mu    sync.Mutex
	reads int
}

const planted = "planted-by-the-test"

func (c *plantedRead) Serve(ctx context.Context, id env.NodeID, req foreign.Request) foreign.Answer {
	a := c.Cluster.Serve(ctx, id, req)
	if req.F != kv.OpGet || a.Status != foreign.OK || !a.Value.Present {
		return a
	}
	c.mu.Lock()
	c.reads++
	plant := c.reads == 50
	c.mu.Unlock()
	if plant {
		a.Value = kv.Some(planted)
	}
	return a
}

// TestCheckerCatchesAWrongRead shows that a foreign run can fail: one
// read answered with a value nobody wrote makes the linearizable check,
// and the run, invalid, and the report and results point at that read.
func TestCheckerCatchesAWrongRead(t *testing.T) {
	s, err := scenario.Parse("planted-read.yaml", []byte(`name: planted-read
cluster: {instances: 3}
workload: {kind: kv, clients: 4, keys: 4, rate: 100, mix: {read: 0.5, write: 0.5}}
duration: 5s
final: {recover: 1s}
checks: [linearizable, durability]
`))
	if err != nil {
		t.Fatal(err)
	}
	target := hraftkv.Target()
	start := target.Start
	target.Start = func(e foreign.Env) (foreign.Cluster, error) {
		c, err := start(e)
		return &plantedRead{Cluster: c}, err
	}
	dir := filepath.Join(t.TempDir(), "run")
	o := runScenario(t, s, target, 1, dir)
	var lin checker.Result
	for _, c := range o.Results.Checkers {
		if c.Checker == scenario.CheckLinearizable {
			lin = c
		}
	}
	if o.Results.Verdict != checker.Invalid || lin.Verdict != checker.Invalid {
		t.Fatalf("a read of a value nobody wrote passed: verdict %s, linearizable %s: %s", o.Results.Verdict, lin.Verdict, lin.Explanation)
	}
	if lin.First == nil || lin.First.Op == nil || lin.First.Op.F != "read" {
		t.Errorf("the linearizable check points at %+v, want the planted read", lin.First)
	}
	history, err := os.ReadFile(filepath.Join(dir, rundir.HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(history), planted) != 1 {
		t.Errorf("the history holds %q %d times, want once", planted, strings.Count(string(history), planted))
	}
	d, html := reportData(t, filepath.Join(dir, rundir.ReportFile))
	if d.First == nil || d.First.Checker != scenario.CheckLinearizable || !strings.Contains(html, `id="first-bad"`) {
		t.Errorf("the report does not show the first bad operation: %+v", d.First)
	}
	if _, err := os.Stat(filepath.Join(dir, rundir.LinearizabilityFile)); err != nil {
		t.Errorf("no visualization of the history that cannot be linearized: %v", err)
	}
	t.Logf("caught: %s", lin.Explanation)
}
