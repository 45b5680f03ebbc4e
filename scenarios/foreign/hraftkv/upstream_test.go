package hraftkv_test

import (
	"io"
	"math/rand"
	"os"
	"regexp"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoaldb/shoal/scenarios/foreign/hraftkv"
)

// TestRaftVersion keeps hraftkv.RaftVersion, which the reports name, the
// version go.mod requires.
func TestRaftVersion(t *testing.T) {
	mod, err := os.ReadFile("../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/hashicorp/raft (\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod requires no github.com/hashicorp/raft")
	}
	if string(m[1]) != hraftkv.RaftVersion {
		t.Errorf("go.mod requires github.com/hashicorp/raft %s, hraftkv.RaftVersion says %s", m[1], hraftkv.RaftVersion)
	}
}

// nopFSM applies nothing.
type nopFSM struct{}

func (nopFSM) Apply(*raft.Log) any                 { return nil }
func (nopFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, io.EOF }
func (nopFSM) Restore(io.ReadCloser) error         { return nil }

// TestRestoreCommittedLogsForgetsConfiguration pins what keeps hraftkv
// on hashicorp/raft's default restart: in v1.8.0 a node restarted with
// RestoreCommittedLogs (and a CommitTrackingLogStore, hashicorp's own
// in-memory one here) and no snapshot comes back with no configuration.
// NewRaft replays the committed entries, configuration entries included,
// into the state machine and marks them applied, and then looks for
// configuration entries only after the last one applied; so the node
// knows no peers, and never stands for election. A run of rolling-kill
// with it lost its last leader at 26s and never elected another: every
// other node had been restarted. When this test fails, hashicorp/raft
// restores the configuration, and hraftkv can restart from its stored
// commit index.
func TestRestoreCommittedLogsForgetsConfiguration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ids := []raft.ServerID{"a", "b", "c"}
		var servers []raft.Server
		for _, id := range ids {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: id, Address: raft.ServerAddress(id)})
		}
		config := func(id raft.ServerID) *raft.Config {
			c := hraftkv.Config(id)
			c.RestoreCommittedLogs = true
			return c
		}
		stores := map[raft.ServerID]*raft.InmemCommitTrackingStore{}
		snaps := map[raft.ServerID]*raft.InmemSnapshotStore{}
		trans := map[raft.ServerID]*raft.InmemTransport{}
		nodes := map[raft.ServerID]*raft.Raft{}
		connect := func() {
			for _, a := range trans {
				for _, b := range trans {
					a.Connect(b.LocalAddr(), b)
				}
			}
		}
		start := func(id raft.ServerID) {
			_, trans[id] = raft.NewInmemTransport(raft.ServerAddress(id))
			connect()
			r, err := raft.NewRaft(config(id), nopFSM{}, stores[id], stores[id], snaps[id], trans[id])
			if err != nil {
				t.Fatal(err)
			}
			nodes[id] = r
		}
		for _, id := range ids {
			stores[id], snaps[id] = raft.NewInmemCommitTrackingStore(), raft.NewInmemSnapshotStore()
			_, tr := raft.NewInmemTransport(raft.ServerAddress(id))
			if err := raft.BootstrapCluster(config(id), stores[id], stores[id], snaps[id], tr, raft.Configuration{Servers: servers}); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range ids {
			start(id)
		}
		defer func() {
			for _, r := range nodes {
				r.Shutdown().Error()
			}
		}()
		var leader *raft.Raft
		for leader == nil {
			time.Sleep(10 * time.Millisecond)
			for _, r := range nodes {
				if r.State() == raft.Leader {
					leader = r
				}
			}
		}
		for range 10 {
			if err := leader.Apply([]byte("x"), time.Second).Error(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second) // every follower learns the commit index
		for _, id := range ids {
			if nodes[id] == leader {
				continue
			}
			if n := len(nodes[id].GetConfiguration().Configuration().Servers); n != 3 {
				t.Fatalf("%s knows %d servers before its restart, want 3", id, n)
			}
			nodes[id].Shutdown().Error()
			start(id)
			if got := nodes[id].GetConfiguration().Configuration().Servers; len(got) != 0 {
				t.Fatalf("%s knows its configuration after a restart with RestoreCommittedLogs (%v): hashicorp/raft fixed it, and hraftkv can use it", id, got)
			}
			t.Logf("%s, restarted with RestoreCommittedLogs, knows no server", id)
			return
		}
	})
}

// TestSeedGlobalRand checks that seeding math/rand's global source, which
// hashicorp/raft draws its timeouts from, takes in this test binary
// (hraftkv_test.go's //go:debug line): after each seeding the source
// draws the same.
func TestSeedGlobalRand(t *testing.T) {
	var draws [2][3]int64
	for i := range draws {
		if err := hraftkv.SeedGlobalRand(7); err != nil {
			t.Fatal(err)
		}
		for j := range draws[i] {
			draws[i][j] = rand.Int63()
		}
	}
	if draws[0] != draws[1] {
		t.Errorf("two seedings with 7 drew %v and then %v", draws[0], draws[1])
	}
}
