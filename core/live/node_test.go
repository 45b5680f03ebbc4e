package live

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
)

// startCluster opens n instances in this process on loopback, with the
// same join list and BootstrapExpect n, and forms their cluster.
func startCluster(t *testing.T, root string, n int) []*Node {
	t.Helper()
	var nodes []*Node
	var join []string
	for i := range n {
		node, err := Open(Config{Name: env.NodeID(fmt.Sprintf("n%d", i+1)), DataDir: filepath.Join(root, fmt.Sprintf("n%d", i+1)),
			PeerAddr: "127.0.0.1:0", BootstrapExpect: n})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
		nodes = append(nodes, node)
		join = append(join, node.PeerAddr())
	}
	for _, node := range nodes {
		node.cfg.Join = join
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, node := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = node.Form(ctx) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// TestNodesFormAndServe runs three instances in one process: they form a
// cluster from the same join list, serve writes and reads through every
// instance (forwarding to the leader), agree on the configuration, and
// recover their data when closed and opened again.
func TestNodesFormAndServe(t *testing.T) {
	noLeaks(t)
	root := t.TempDir()
	nodes := startCluster(t, root, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, node := range nodes {
		r, err := node.Do(ctx, kv.Request{Op: kv.OpPut, Key: fmt.Sprintf("k%d", i), Value: fmt.Sprintf("v%d", i)})
		if err != nil || r.Status != kv.StatusOK {
			t.Fatalf("put through %s: %v %+v", node.cfg.Name, err, r)
		}
	}
	r, err := nodes[2].Do(ctx, kv.Request{Op: kv.OpCAS, Key: "k0", Value: "w0", Expected: kv.Some("v0")})
	if err != nil || r.Status != kv.StatusOK {
		t.Fatalf("cas: %v %+v", err, r)
	}
	r, err = nodes[1].Do(ctx, kv.Request{Op: kv.OpCAS, Key: "k0", Value: "x", Expected: kv.Some("v0")})
	if err != nil || r.Status != kv.StatusMismatch || r.Value != kv.Some("w0") {
		t.Fatalf("a cas expecting the old value: %v %+v, want a mismatch finding w0", err, r)
	}
	for _, node := range nodes {
		for i, want := range []string{"w0", "v1", "v2"} {
			r, err := node.Do(ctx, kv.Request{Op: kv.OpGet, Key: fmt.Sprintf("k%d", i)})
			if err != nil || r.Value != kv.Some(want) {
				t.Errorf("get k%d through %s: %v %+v, want %s", i, node.cfg.Name, err, r, want)
			}
		}
		st, err := node.Cluster(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Instances) != 3 || len(st.Replicasets) != 1 || len(st.Replicasets[0].Members) != 3 || len(st.Voters) != 3 {
			t.Errorf("%s sees %+v", node.cfg.Name, st)
		}
	}
	eventually(t, func() bool {
		for _, node := range nodes {
			if ok, _ := node.Ready(); !ok {
				return false
			}
		}
		return true
	}, "every instance ready")
	// A stale read is answered by the instance asked, from its own
	// state: each replica finds the value once it has applied the write.
	for _, node := range nodes {
		eventually(t, func() bool {
			r, err := node.Do(ctx, kv.Request{Op: kv.OpGet, Key: "k0", Stale: true})
			return err == nil && r.Status == kv.StatusOK && r.Value == kv.Some("w0")
		}, fmt.Sprintf("a stale read of k0 through %s finds w0", node.cfg.Name))
	}

	// Closed and opened again on new ports, they find their cluster in
	// members.json and their data on disk, and their peers' new addresses
	// through the join list.
	for _, node := range nodes {
		node.Close()
	}
	var again []*Node
	var join []string
	for i := range 3 {
		node, err := Open(Config{Name: env.NodeID(fmt.Sprintf("n%d", i+1)), DataDir: filepath.Join(root, fmt.Sprintf("n%d", i+1)), PeerAddr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		again = append(again, node)
		join = append(join, node.PeerAddr())
	}
	for _, node := range again {
		node.cfg.Join = join
	}
	for _, node := range again {
		if err := node.Form(ctx); err != nil {
			t.Fatal(err)
		}
	}
	r, err = again[0].Do(ctx, kv.Request{Op: kv.OpGet, Key: "k2"})
	if err != nil || r.Value != kv.Some("v2") {
		t.Errorf("after reopening: get k2: %v %+v", err, r)
	}
	for _, node := range again {
		node.Close()
	}
}

func TestOpenRefusesALockedDirectory(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(Config{Name: "n1", DataDir: dir, PeerAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := Open(Config{Name: "n1", DataDir: dir, PeerAddr: "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a second Open of the same directory: %v, want it refused", err)
	}
}

func TestDoBeforeFormingIsUnavailable(t *testing.T) {
	n, err := Open(Config{Name: "n1", DataDir: t.TempDir(), PeerAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.Do(context.Background(), kv.Request{Op: kv.OpGet, Key: "k"}); err == nil || !strings.Contains(err.Error(), "not formed") {
		t.Errorf("Do before Form: %v", err)
	}
	if ok, why := n.Ready(); ok || why == "" {
		t.Errorf("ready before forming: %v %q", ok, why)
	}
}

// TestJoinAFormedCluster adds a fourth instance to a formed cluster
// through one member's address: rs1 is complete, so it founds rs2 (which
// owns no bucket yet), serves requests by forwarding them, and rejoins
// from its members.json after a restart.
func TestJoinAFormedCluster(t *testing.T) {
	noLeaks(t)
	root := t.TempDir()
	nodes := startCluster(t, root, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 20 {
		if r, err := nodes[i%3].Do(ctx, kv.Request{Op: kv.OpPut, Key: fmt.Sprintf("k%d", i), Value: fmt.Sprintf("v%d", i)}); err != nil || r.Status != kv.StatusOK {
			t.Fatalf("put: %v %+v", err, r)
		}
	}
	open4 := func() *Node {
		n4, err := Open(Config{Name: "n4", DataDir: filepath.Join(root, "n4"), PeerAddr: "127.0.0.1:0", Join: []string{nodes[1].PeerAddr()},
			Domain: map[string]string{"zone": "b"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n4.Close() })
		if err := n4.Form(ctx); err != nil {
			t.Fatal(err)
		}
		return n4
	}
	joining := filepath.Join(root, "n4", JoiningFile)
	if err := os.MkdirAll(filepath.Dir(joining), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(joining, []byte("join-n4-test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n4 := open4()
	if _, err := os.Stat(joining); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the join's ID stayed after members.json recorded the admission: %v", err)
	}
	eventually(t, func() bool {
		r, err := n4.Do(ctx, kv.Request{Op: kv.OpGet, Key: "k7"})
		return err == nil && r.Value == kv.Some("v7")
	}, "n4 to serve a read")
	// n4 forwards before it has caught up; its own view of the
	// configuration follows.
	var st ClusterStatus
	eventually(t, func() bool {
		var err error
		st, err = n4.Cluster(ctx)
		return err == nil && len(st.Instances) == 4 && len(st.Replicasets) == 2
	}, "n4 to apply its own join")
	if rs := st.Replicasets[1]; rs.Name != "rs2" || len(rs.Members) != 1 || rs.Members[0] != "n4" || rs.Complete ||
		st.Instances[3].Name != "n4" || st.Instances[3].Domain["zone"] != "b" {
		t.Fatalf("the cluster after the join: %+v", st)
	}
	// n4 leads the group of the replicaset it founded.
	eventually(t, func() bool {
		st, err := n4.Cluster(ctx)
		if err != nil {
			return false
		}
		for _, g := range st.Groups {
			if g.Name == "rs2" && g.Leader == "n4" {
				return true
			}
		}
		return false
	}, "n4 to lead rs2")
	if r, err := n4.Do(ctx, kv.Request{Op: kv.OpPut, Key: "from-n4", Value: "x"}); err != nil || r.Status != kv.StatusOK {
		t.Fatalf("put through n4: %v %+v", err, r)
	}
	// Restarted, n4 finds its cluster in members.json.
	n4.Close()
	n4 = open4()
	if r, err := n4.Do(ctx, kv.Request{Op: kv.OpGet, Key: "from-n4"}); err != nil || r.Value != kv.Some("x") {
		t.Fatalf("after n4's restart: %v %+v", err, r)
	}
	// Crashed after its admission committed but before members.json
	// recorded it, n4 asks again under the join ID it kept, and is
	// admitted again, with its Raft ID and its data.
	n4.Close()
	if err := os.Remove(filepath.Join(root, "n4", MembersFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(joining, []byte("join-n4-test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n4 = open4()
	if r, err := n4.Do(ctx, kv.Request{Op: kv.OpGet, Key: "from-n4"}); err != nil || r.Value != kv.Some("x") {
		t.Fatalf("after n4 asked again: %v %+v", err, r)
	}
	if st, err := n4.Cluster(ctx); err != nil || len(st.Instances) != 4 {
		t.Fatalf("the cluster after n4 asked again: %v %+v", err, st)
	}
	// A second join of the same name is refused: the name is taken.
	n4.Close()
	dup, err := Open(Config{Name: "n4", DataDir: filepath.Join(root, "n4-again"), PeerAddr: "127.0.0.1:0", Join: []string{nodes[0].PeerAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	err = dup.Form(short)
	cancelShort()
	dup.Close()
	if err == nil {
		t.Error("an empty instance joined under the name of a member")
	}
	for _, node := range nodes {
		node.Close()
	}
}
