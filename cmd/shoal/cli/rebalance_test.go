package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/shoaldb/shoal/core/live"
)

// fakeRebalancer is a fakeBackend whose cluster moves buckets: behind
// the real API handler its rebalancing is a status it edits as group 0
// would. Once paused, the move under way ends at the next read of the
// status, unless stuck.
type fakeRebalancer struct {
	*fakeBackend
	mu      sync.Mutex
	st      live.RebalanceStatus
	stuck   bool // the move under way never ends
	unknown bool // no action is decided: no quorum
}

func (f *fakeRebalancer) Rebalance(context.Context) (live.RebalanceStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.st
	if f.st.Paused && f.st.Moving != nil && !f.stuck {
		m := f.st.Moving
		f.st.Leftovers = append(f.st.Leftovers, live.LeftoverStatus{Replicaset: m.From, Bucket: m.Bucket, Move: m.ID})
		f.st.Moving = nil
	}
	return st, nil
}

func (f *fakeRebalancer) PauseRebalance(_ context.Context, paused bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unknown {
		return live.ErrUnknownOutcome
	}
	f.st.Paused = paused
	return nil
}

func (f *fakeRebalancer) AbortMove(_ context.Context, move uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch m := f.st.Moving; {
	case f.unknown:
		return live.ErrUnknownOutcome
	case m == nil:
		return fmt.Errorf("%w: move.abort: no move is under way", live.ErrTopologyRefused)
	case move != 0 && move != m.ID:
		return fmt.Errorf("%w: move.abort: move %d is not under way (move %d is, of bucket %d)", live.ErrTopologyRefused, move, m.ID, m.Bucket)
	default:
		f.st.Leftovers = append(f.st.Leftovers, live.LeftoverStatus{Replicaset: m.To, Bucket: m.Bucket, Move: m.ID})
		f.st.Moving = nil
	}
	return nil
}

// exampleRebalance is bucket 250 on its way from rs1 to rs2, the last
// move's copy of bucket 251 still to drop at rs1.
var exampleRebalance = live.RebalanceStatus{
	Node: "n2", Buckets: 256, MovesStarted: 3,
	Moving:    &live.MoveStatus{ID: 3, Bucket: 250, From: "rs1", To: "rs2"},
	Leftovers: []live.LeftoverStatus{{Replicaset: "rs1", Bucket: 251, Move: 2}},
	Replicasets: []live.LoadStatus{
		{Name: "rs1", Buckets: 126, Target: 128, Complete: true},
		{Name: "rs2", Buckets: 2, Target: 128, Complete: true},
		{Name: "rs3", Buckets: 128, Target: 128},
	},
}

const exampleRebalanceTable = `REPLICASET  BUCKETS  TARGET  COMPLETE
rs1         126      128     yes
rs2         2        128     yes
rs3         128      128     no (keeps its buckets)
`

func TestRebalanceCLI(t *testing.T) {
	st := exampleRebalance
	st.Leftovers = append([]live.LeftoverStatus(nil), st.Leftovers...)
	f := &fakeRebalancer{fakeBackend: &fakeBackend{data: map[string]string{}}, st: st}
	srv := httptest.NewServer(live.NewAPI(f, live.APIOptions{Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	addr := srv.URL
	moving := `rebalancing: not balanced; 256 buckets, 3 moves started
moving: bucket 250 from rs1 to rs2 (move 3)
leftovers to drop: rs1 bucket 251 (move 2)
` + exampleRebalanceTable
	runSteps(t, []cliStep{
		{args: []string{"rebalance", "status", "--addr", addr}, stdout: "rebalancing as n2 (" + addr + ") sees it\n\n" + moving},
		{args: []string{"rebalance", "--addr", addr}, stdout: "rebalancing as n2 (" + addr + ") sees it\n\n" + moving},
		{args: []string{"rebalance", "abort", "--move", "2", "--addr", addr}, code: exitInvalid,
			stderr: "shoal rebalance abort: refused: move.abort: move 2 is not under way (move 3 is, of bucket 250)"},
		{args: []string{"rebalance", "abort", "--addr", addr}, stdout: `group 0 aborted move 3 (bucket 250 from rs1 to rs2)

rebalancing: not balanced; 256 buckets, 3 moves started
moving: nothing
leftovers to drop: rs1 bucket 251 (move 2), rs2 bucket 250 (move 3)
` + exampleRebalanceTable + `
rebalancing is not paused: the governor goes on with another bucket (shoal rebalance pause stops it)
`},
		{args: []string{"rebalance", "abort", "--addr", addr}, code: exitInvalid, stderr: "shoal rebalance abort: refused: move.abort: no move is under way"},
		{args: []string{"rebalance", "resume", "--addr", addr}, stdout: "rebalancing resumed\n"},
	})

	code, out, errs := shoal(t, "rebalance", "status", "--addr", addr, "--json")
	var got live.RebalanceStatus
	if err := json.Unmarshal([]byte(out), &got); code != exitValid || err != nil || got.Moving != nil || len(got.Leftovers) != 2 || got.Paused {
		t.Errorf("rebalance status --json: exit %d, %v, %s %s", code, err, out, errs)
	}

	// A pause waits for the move under way to end; one that does not end
	// in time leaves the outcome of the wait unknown.
	f.mu.Lock()
	f.st.Moving = &live.MoveStatus{ID: 4, Bucket: 249, From: "rs1", To: "rs2"}
	f.stuck = true
	f.mu.Unlock()
	runSteps(t, []cliStep{
		{args: []string{"rebalance", "pause", "--addr", addr, "--wait", "300ms"}, code: exitUnknown, stdout: "rebalancing paused: the governor starts no move\n",
			stderr: "move 4 (bucket 249 from rs1 to rs2) is still under way after 300ms: shoal rebalance abort ends it"},
		{args: []string{"rebalance", "pause", "--addr", addr, "--wait", "0"}, stdout: "rebalancing paused: the governor starts no move\n"},
		{args: []string{"rebalance", "status", "--addr", addr}, stdout: "rebalancing as n2 (" + addr + ") sees it\n\n" +
			`rebalancing: not balanced, paused (the governor starts no move); 256 buckets, 3 moves started
moving: bucket 249 from rs1 to rs2 (move 4)
leftovers to drop: rs1 bucket 251 (move 2), rs2 bucket 250 (move 3)
` + exampleRebalanceTable},
	})
	f.mu.Lock()
	f.stuck = false
	f.mu.Unlock()
	runSteps(t, []cliStep{
		{args: []string{"rebalance", "pause", "--addr", addr}, stdout: "rebalancing paused: the governor starts no move\nno move is under way\n"},
		{args: []string{"rebalance", "pause", "--addr", addr, "--json"}, stdout: "{\"paused\":true}\n"},
	})

	f.mu.Lock()
	f.unknown = true
	f.mu.Unlock()
	runSteps(t, []cliStep{
		{args: []string{"rebalance", "resume", "--addr", addr}, code: exitUnknown, stderr: "the outcome is unknown"},
		{args: []string{"rebalance", "pauze", "--addr", addr}, code: exitUsage, stderr: `shoal rebalance: unknown subcommand "pauze": want status, pause, resume or abort`},
		{args: []string{"rebalance", "abort", "bucket-3", "--addr", addr}, code: exitUsage, stderr: `unexpected argument "bucket-3"`},
		{args: []string{"rebalance", "pause", "--wait", "-1s", "--addr", addr}, code: exitUsage, stderr: "--wait -1s: want a duration of 0 or more"},
		{args: []string{"rebalance", "pause", "-h"}, stderr: "usage: shoal rebalance pause [--wait DURATION] [--addr ADDRS] [--json]"},
	})

	// A node that moves no buckets says so.
	_, plain := node(t)
	runSteps(t, []cliStep{
		{args: []string{"rebalance", "status", "--addr", plain}, code: exitInternal, stderr: "501 Not Implemented: this node moves no buckets"},
	})
}

// TestStatusShowsRebalancing: shoal status adds the buckets' spread when
// the node reports it.
func TestStatusShowsRebalancing(t *testing.T) {
	f, addr := node(t)
	f.cluster = exampleCluster
	rb := exampleRebalance
	f.cluster.Rebalance = &rb
	code, out, errs := shoal(t, "status", "--addr", addr)
	want := `group 0 voters: n1,n2,n4

rebalancing: not balanced; 256 buckets, 3 moves started
moving: bucket 250 from rs1 to rs2 (move 3)
leftovers to drop: rs1 bucket 251 (move 2)
` + exampleRebalanceTable + `
raft groups on n2
`
	if code != exitValid || !strings.Contains(out, want) || errs != "" {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant it to hold:\n%s", code, errs, out, want)
	}
	code, out, _ = shoal(t, "status", "--addr", addr, "--json")
	var got live.ClusterStatus
	if err := json.Unmarshal([]byte(out), &got); code != exitValid || err != nil || !reflect.DeepEqual(got.Rebalance, &rb) {
		t.Errorf("status --json: exit %d, %v:\n%s", code, err, out)
	}
}
