package harness

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/scenarios/replaytest"
	"github.com/shoaldb/shoal/simnet/client"
)

// TestJoinAddsAReplica replaces a lost instance: n3 dies, the governor
// marks it offline, an operator expels it (group 0 and rs1 drop it), and
// a fourth instance joins a serving cluster in its place: group 0's
// leader adds it as a learner, rs1's leader as a learner and then,
// caught up, as a voter, and the governor makes it group 0's third
// voter; it receives the data (a snapshot, since the log was
// compacted), survives a restart, and a majority without the original
// leader keeps serving with it. Every check holds throughout, and the
// run replays exactly.
func TestJoinAddsAReplica(t *testing.T) {
	replaytest.Check(t, func(t testing.TB) [32]byte {
		w, c := start(t, 5, Topology{Instances: 3, Settings: map[string]string{cluster.OfflineAfter: "2s"}}, node.Config{CompactEvery: 100})
		keys := keyNames(6)
		// The clients know n1..n3 only, two of which are down at the end:
		// they go to the instance that last answered for a key.
		if _, err := c.AddClients(3, client.Config{Delay: time.Second, Interval: 15 * time.Millisecond, Until: 23 * time.Second, Target: "leader"},
			func(i int) client.Workload {
				return &client.Mix{ID: fmt.Sprint("c", i), Keys: len(keys), Read: 1, Write: 2, CAS: 1}
			}); err != nil {
			t.Fatal(err)
		}
		runUntil(t, w, 4*time.Second)
		w.Kill("n3")
		runUntil(t, w, 7*time.Second)
		c.Propose("n1", "config", "expel-n3", cluster.Expel("n3", false).Encode(), 5*time.Second)
		runUntil(t, w, 9*time.Second)
		if err := c.Join("n4", "n2", cluster.Domain{"zone": "b"}, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		runUntil(t, w, 13*time.Second)
		// n4 restarts; then the leader of rs1 is killed: n4 is one of the
		// two left of three voters, a majority.
		w.Kill("n4")
		w.At(w.Now()+500*time.Millisecond, func() { w.Restart("n4") })
		runUntil(t, w, 15*time.Second)
		old := waitLeader(t, w, c, "rs1", 2*time.Second)
		w.Kill(old)
		runUntil(t, w, 21*time.Second)
		w.Restart(old)
		runUntil(t, w, 25*time.Second)
		if err := c.FinalRead(keys); err != nil {
			t.Fatal(err)
		}
		runUntil(t, w, 29*time.Second)
		c.RecordDigests()
		runUntil(t, w, 30*time.Second)

		recs := records(t, w)
		requireSafe(t, recs)
		for _, id := range []string{"expel-n3", "join-n4"} {
			if r, ok := outcomes(recs)[id]; !ok || func() string { s, _ := r.Str("outcome"); return s }() != "ok" {
				t.Fatalf("%s's outcome: %v", id, r)
			}
		}
		var confs []string
		installs, servedAfterKill := 0, 0
		killedAt := int64(0)
		for _, r := range recs {
			switch {
			case r.Kind == "raft.conf" && r.Node == "n1":
				g, _ := r.Str("group")
				v, _ := r.Str("voters")
				l, _ := r.Str("learners")
				confs = append(confs, fmt.Sprintf("%s voters=%s learners=%s", g, v, l))
			case r.Kind == "raft.snapshot.install" && r.Node == "n4":
				installs++
			case r.Kind == "node.kill" && r.Node == old:
				killedAt = r.Time
			case r.Kind == "client.ok" && killedAt > 0 && r.Time > killedAt && r.Time < int64(21*time.Second):
				servedAfterKill++
			}
		}
		for _, want := range []string{"config voters=n1,n2 learners=n3", "config voters=n1,n2 learners=", "rs1 voters=n1,n2 learners=",
			"config voters=n1,n2 learners=n4", "rs1 voters=n1,n2 learners=n4", "rs1 voters=n1,n2,n4 learners=", "config voters=n1,n2,n4 learners="} {
			if !slices.Contains(confs, want) {
				t.Errorf("n1 never applied the membership %q; it applied:\n%s", want, strings.Join(confs, "\n"))
			}
		}
		if installs == 0 {
			t.Error("n4 caught up without a snapshot, though the log was compacted before it joined")
		}
		if in, _ := c.Node("n1").Configuration().Instance("n3"); in.State != cluster.Expelled {
			t.Errorf("n3 is %+v, not expelled", in)
		}
		if servedAfterKill < 50 {
			t.Errorf("only %d operations succeeded after the leader %s died", servedAfterKill, old)
		}
		for _, g := range []string{"config", "rs1"} {
			st, ok := c.Status("n4", g)
			lead, _ := c.Status(waitLeader(t, w, c, g, time.Second), g)
			if !ok || st.Applied != lead.Applied || st.Digest != lead.Digest {
				t.Errorf("%s on n4: %+v, on its leader %+v", g, st, lead)
			}
		}
		return w.TraceHash()
	})
}
