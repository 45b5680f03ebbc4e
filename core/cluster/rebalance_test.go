package cluster

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/env"
)

// owners counts each replicaset's buckets: "rs1:4 rs2:4".
func owners(c *Config) string {
	var s []string
	for _, l := range c.Loads() {
		s = append(s, fmt.Sprintf("%s:%d", l.Replicaset, l.Buckets))
	}
	return strings.Join(s, " ")
}

// rebalance runs the governor's moves to the end, each committed at the
// next index.
func rebalance(t *testing.T, c *Config) (moved []int) {
	t.Helper()
	for i := 0; ; i++ {
		cmd, ok := c.RebalanceStep()
		if !ok {
			return moved
		}
		if i > len(c.Buckets) {
			t.Fatalf("rebalancing never ends: %s", owners(c))
		}
		applyAll(t, c, cmd)
		applyAll(t, c, CommitMove(*c.Move, uint64(100+i)))
		// The source drops what it gave away before its next move.
		applyAll(t, c, Dropped(c.Garbage[len(c.Garbage)-1]))
		moved = append(moved, cmd.Move.Bucket)
	}
}

// A second replicaset, once complete, receives half the buckets, the
// last ones first, one move at a time; each source keeps a leftover to
// drop, and each moved bucket records the index its owner holds it from.
func TestRebalanceToANewReplicaset(t *testing.T) {
	c, err := Bootstrap(spec(3, 8, "a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, c, Join("n4", Domain{"zone": "a"}), Join("n5", Domain{"zone": "b"}))
	if _, ok := c.RebalanceStep(); ok {
		t.Fatal("a move to an incomplete replicaset")
	}
	applyAll(t, c, Join("n6", Domain{"zone": "c"}))
	cmd, ok := c.RebalanceStep()
	if !ok || *cmd.Move != (BucketMove{Bucket: 7, From: "rs1", To: "rs2"}) {
		t.Fatalf("the first move: %+v %v", cmd.Move, ok)
	}
	applyAll(t, c, cmd)
	if _, ok := c.RebalanceStep(); ok {
		t.Fatal("a second move while one is under way")
	}
	if err := c.Apply(StartMove(6, "rs1", "rs2")); err == nil {
		t.Fatal("a second move started")
	}
	if err := c.Apply(CommitMove(BucketMove{ID: 9, Bucket: 7, From: "rs1", To: "rs2"}, 5)); err == nil {
		t.Fatal("a commit of another move applied")
	}
	applyAll(t, c, CommitMove(*c.Move, 99))
	// rs1 moves nothing more until it dropped bucket 7.
	if _, ok := c.RebalanceStep(); ok {
		t.Fatal("a move from a replicaset still holding a leftover")
	}
	if err := c.Apply(StartMove(6, "rs1", "rs2")); err == nil || !strings.Contains(err.Error(), "not dropped") {
		t.Fatalf("a move from a replicaset still holding a leftover: %v", err)
	}
	applyAll(t, c, Dropped(c.Garbage[0]))
	if moved := rebalance(t, c); fmt.Sprint(moved) != "[6 5 4]" {
		t.Fatalf("moved %v, want [6 5 4]", moved)
	}
	if got := owners(c); got != "rs1:4 rs2:4" {
		t.Fatalf("owners %s", got)
	}
	if c.BucketIndex[7] != 99 || c.BucketIndex[4] != 102 || len(c.Garbage) != 0 || c.Moves != 4 {
		t.Fatalf("bucket index %v, garbage %v, moves %d", c.BucketIndex, c.Garbage, c.Moves)
	}
	if err := c.Apply(Dropped(Leftover{"rs1", 7, 1})); err == nil {
		t.Fatal("a leftover dropped twice")
	}
	// The configuration with a move under way and a leftover decodes.
	applyAll(t, c, StartMove(0, "rs1", "rs2"), AbortMove(0))
	applyAll(t, c, StartMove(1, "rs1", "rs2"))
	again, err := Decode(c.Encode())
	if err != nil || owners(again) != owners(c) || len(again.Garbage) != 1 || *again.Move != *c.Move || again.BucketIndex[4] != 102 {
		t.Fatalf("decoded: %v %+v", err, again)
	}
}

// Three complete replicasets share 8 buckets 3, 3, 2; an incomplete one
// keeps what it holds and takes nothing.
func TestRebalanceEvenly(t *testing.T) {
	c, err := Bootstrap(spec(1, 8, "a"))
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, c, Join("n2", nil), Join("n3", nil))
	rebalance(t, c)
	if got := owners(c); got != "rs1:3 rs2:3 rs3:2" {
		t.Fatalf("owners %s", got)
	}
	for _, l := range c.Loads() {
		if l.Target != l.Buckets {
			t.Fatalf("%+v is not at its target", l)
		}
	}
}

// Paused, the governor starts no move; an abort ends the one under way,
// the destination's partial copy becomes a leftover, and the next move
// passes that bucket over until it is dropped.
func TestRebalancePauseAndAbort(t *testing.T) {
	c, err := Bootstrap(spec(1, 4, "a"))
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, c, Join("n2", nil), SetSetting(RebalancePaused, "true"))
	if _, ok := c.RebalanceStep(); ok {
		t.Fatal("a move while paused")
	}
	if err := c.Apply(SetSetting(RebalancePaused, "maybe")); err == nil {
		t.Fatal("rebalance.paused=maybe was taken")
	}
	applyAll(t, c, SetSetting(RebalancePaused, "false"))
	cmd, _ := c.RebalanceStep()
	applyAll(t, c, cmd)
	if err := c.Apply(AbortMove(c.Move.ID + 1)); err == nil || !strings.Contains(err.Error(), "is not under way") {
		t.Fatalf("an abort of a move not under way: %v", err)
	}
	applyAll(t, c, AbortMove(c.Move.ID))
	if c.Move != nil || len(c.Garbage) != 1 || c.Garbage[0] != (Leftover{"rs2", 3, 1}) || c.Buckets[3] != "rs1" {
		t.Fatalf("after the abort: move %v, garbage %v, bucket 3 at %s", c.Move, c.Garbage, c.Buckets[3])
	}
	if err := c.Apply(AbortMove(0)); err == nil {
		t.Fatal("an abort with no move under way")
	}
	if cmd, _ := c.RebalanceStep(); cmd.Move.Bucket != 2 {
		t.Fatalf("the next move takes bucket %d, whose leftover rs2 holds", cmd.Move.Bucket)
	}
	if err := c.Apply(StartMove(3, "rs1", "rs2")); err == nil {
		t.Fatal("a move to a replicaset holding the bucket's leftover")
	}
	applyAll(t, c, Dropped(c.Garbage[0]))
	if cmd, _ := c.RebalanceStep(); cmd.Move.Bucket != 3 {
		t.Fatalf("after the drop, the next move takes bucket %d", cmd.Move.Bucket)
	}
}

func TestDecodeRefusesInconsistentMoves(t *testing.T) {
	c, err := Bootstrap(spec(1, 4, "a"))
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, c, Join("n2", nil))
	good := string(c.Encode())
	for name, edit := range map[string]func(*Config){
		"move of no bucket":         func(c *Config) { c.Moves, c.Move = 1, &BucketMove{ID: 1, Bucket: 9, From: "rs1", To: "rs2"} },
		"move from a non-owner":     func(c *Config) { c.Moves, c.Move = 1, &BucketMove{ID: 1, Bucket: 1, From: "rs2", To: "rs1"} },
		"move never started":        func(c *Config) { c.Move = &BucketMove{ID: 1, Bucket: 1, From: "rs1", To: "rs2"} },
		"index of no bucket":        func(c *Config) { c.BucketIndex = map[int]uint64{4: 1} },
		"leftover of no replicaset": func(c *Config) { c.Moves, c.Garbage = 1, []Leftover{{"rs9", 1, 1}} },
	} {
		bad, _ := Decode([]byte(good))
		edit(bad)
		if _, err := Decode(bad.Encode()); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// The governor rebalances last: a joined replicaset receives buckets
// once group 0's voters and the instances' states have settled, and an
// unreachable instance is marked offline before the next move.
func TestGovernRebalancesLast(t *testing.T) {
	c, err := Bootstrap(spec(3, 8, "a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, c, Join("n4", Domain{"zone": "a"}), Join("n5", Domain{"zone": "b"}), Join("n6", Domain{"zone": "c"}))
	all := func(env.NodeID) bool { return true }
	var ops []string
	for i := 0; ; i++ {
		if i > 50 {
			t.Fatalf("the governor never rests: %v", ops)
		}
		cmd, ok := c.Govern(Health{Reachable: all, Settled: true})
		if !ok {
			break
		}
		ops = append(ops, cmd.Op)
		applyAll(t, c, cmd)
		if cmd.Op == "move.start" {
			applyAll(t, c, CommitMove(*c.Move, uint64(100+i)))
			applyAll(t, c, Dropped(c.Garbage[len(c.Garbage)-1]))
		}
	}
	if got := owners(c); got != "rs1:4 rs2:4" {
		t.Fatalf("after the governor rested: %s (steps %v)", got, ops)
	}
	first := slices.Index(ops, "move.start")
	if first < 0 || slices.ContainsFunc(ops[first:], func(op string) bool { return op != "move.start" }) {
		t.Fatalf("want the voter and state steps first, then the moves: %v", ops)
	}
	// A move under way does not hold back marking an instance offline.
	c.Buckets[4], c.Buckets[5] = "rs1", "rs1" // as if two moves had gone back
	cmd, ok := c.Govern(Health{Reachable: all, Settled: true})
	if !ok || cmd.Op != "move.start" {
		t.Fatalf("want a move, got %+v", cmd)
	}
	applyAll(t, c, cmd)
	cmd, ok = c.Govern(Health{Reachable: func(n env.NodeID) bool { return n != "n6" }, Settled: true, Unreachable: "gone"})
	if !ok || cmd.Op != "offline" || cmd.Instance != "n6" {
		t.Fatalf("want n6 marked offline during the move, got %+v", cmd)
	}
}
