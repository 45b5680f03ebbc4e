package nemesis_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/harness"
)

var dcLink = simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Uniform, Min: 15 * time.Millisecond, Max: 25 * time.Millisecond}}

// startDCs starts clusters dc1, dc2 and dc3 of two instances each in one
// world, and the nemesis's view of them.
func startDCs(t *testing.T) (*simnet.World, []*harness.Cluster, nemesis.Config) {
	t.Helper()
	w, err := simnet.New(simnet.Config{Seed: 7, KeepTrace: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	var ts []harness.Topology
	for i := range 3 {
		ts = append(ts, harness.Topology{Name: fmt.Sprintf("dc%d", i+1), Instances: 2})
	}
	cs, err := harness.StartAll(w, ts, node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := nemesis.Config{Network: base, DiskDir: node.WALDir, DCLink: dcLink}
	for _, c := range cs {
		cfg.DCs = append(cfg.DCs, nemesis.DC{Name: c.Name, Cluster: c, Nodes: c.Instances()})
	}
	return w, cs, cfg
}

// linkAt is the configuration of link from → to as the trace last set it
// by t: its min and max latency, or cut.
func (tr trace) linkAt(from, to string, t int64) string {
	state, cut := "default", false
	for _, r := range tr {
		if r.Time > t {
			break
		}
		if str(r, "from") != from || str(r, "to") != to {
			continue
		}
		switch r.Kind {
		case "net.link":
			state = fmt.Sprintf("%s..%s", time.Duration(num(r, "min")), time.Duration(num(r, "max")))
		case "net.cut":
			cut = true
		case "net.uncut":
			cut = false
		}
	}
	if cut {
		return "cut"
	}
	return state
}

// The dc links get their base latency when the schedule starts; a
// dclink fault between two clusters cuts, slows or flaps only the links
// between those two, both ways, and leaves the links inside a cluster
// and to the third cluster alone; each ends restoring the base.
func TestDCLinkFaults(t *testing.T) {
	slow := simnet.Latency{Dist: simnet.Constant, Min: 100 * time.Millisecond}
	for _, tc := range []struct {
		mode   string
		fault  nemesis.Fault
		during string // dc1-n1 → dc2-n2 during the fault
	}{
		{"cut", nemesis.Fault{Kind: nemesis.DCLink, Mode: nemesis.DCLinkCut, Between: []string{"dc1", "dc2"}}, "cut"},
		{"slow", nemesis.Fault{Kind: nemesis.DCLink, Mode: nemesis.DCLinkSlow, Between: []string{"dc2", "dc1"}, Delay: &slow}, "115ms..125ms"},
		{"flap", nemesis.Fault{Kind: nemesis.DCLink, Mode: nemesis.DCLinkFlap, Between: []string{"dc1", "dc2"}, Period: 300 * time.Millisecond}, "cut"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			w, _, cfg := startDCs(t)
			cfg.End = 3 * time.Second
			steps := []nemesis.Step{{At: time.Second, For: time.Second, Fault: &tc.fault}}
			tr := schedule(t, w, cfg.DCs[0].Cluster, steps, cfg)
			start, stop := tr.only(t)
			if str(start, "between") != strings.Join(tc.fault.Between, ",") || str(start, "mode") != tc.mode {
				t.Fatalf("nemesis.start %v", start)
			}
			mid := start.Time + int64(100*time.Millisecond)
			for _, l := range [][2]string{{"dc1-n1", "dc2-n2"}, {"dc2-n2", "dc1-n1"}} {
				if got := tr.linkAt(l[0], l[1], start.Time-1); got != "15ms..25ms" {
					t.Errorf("%s → %s before the fault: %s, want the dc link's base", l[0], l[1], got)
				}
				if got := tr.linkAt(l[0], l[1], mid); got != tc.during {
					t.Errorf("%s → %s during the fault: %s, want %s", l[0], l[1], got, tc.during)
				}
				if got := tr.linkAt(l[0], l[1], stop.Time); got == "cut" || (tc.mode == "slow" && got != "15ms..25ms") {
					t.Errorf("%s → %s after the fault: %s", l[0], l[1], got)
				}
			}
			for _, l := range [][2]string{{"dc1-n1", "dc1-n2"}, {"dc1-n1", "dc3-n1"}, {"dc3-n2", "dc2-n1"}} {
				if got := tr.linkAt(l[0], l[1], mid); got == "cut" || got == tc.during {
					t.Errorf("%s → %s is %s during a fault between dc1 and dc2", l[0], l[1], got)
				}
			}
			if tc.mode == "flap" {
				var turns []bool
				for _, r := range tr.kind("nemesis.flap") {
					b, _ := r.Bool("cut")
					turns = append(turns, b)
				}
				if want := []bool{true, false, true, false}; !slices.Equal(turns, want) {
					t.Errorf("flap turns %v, want %v", turns, want)
				}
				if got := tr.linkAt("dc1-n1", "dc2-n1", start.Time+int64(400*time.Millisecond)); got == "cut" {
					t.Errorf("a flapping link is cut in its second period")
				}
			}
		})
	}
}

// The final heal ends a dclink fault that has no duration and restores
// the dc links' base.
func TestDCLinkHeal(t *testing.T) {
	w, _, cfg := startDCs(t)
	cfg.End = 2 * time.Second
	slow := simnet.Latency{Min: time.Second}
	steps := []nemesis.Step{
		{At: 500 * time.Millisecond, Fault: &nemesis.Fault{Kind: nemesis.DCLink, Mode: nemesis.DCLinkCut}},
		{At: 600 * time.Millisecond, Fault: &nemesis.Fault{Kind: nemesis.DCLink, Mode: nemesis.DCLinkSlow, Between: []string{"dc1", "dc3"}, Delay: &slow}},
		{At: 0, Fault: &nemesis.Fault{Kind: nemesis.Kill, Cluster: "dc2", Target: "dc2-n1"}},
	}
	tr := schedule(t, w, cfg.DCs[0].Cluster, steps, cfg)
	end := tr[len(tr)-1].Time
	for _, l := range [][2]string{{"dc1-n1", "dc2-n2"}, {"dc3-n1", "dc1-n2"}} {
		if got := tr.linkAt(l[0], l[1], end); got != "15ms..25ms" {
			t.Errorf("%s → %s after the heal: %s", l[0], l[1], got)
		}
	}
	if len(tr.kind("nemesis.stop")) != 3 {
		t.Errorf("the heal stopped %d faults, want 3", len(tr.kind("nemesis.stop")))
	}
	killed := tr.kind("nemesis.start")[0]
	if str(killed, "what") != "killed dc2-n1" || str(killed, "cluster") != "dc2" {
		t.Errorf("kill in dc2: %v", killed)
	}
	if !w.Up("dc2-n1") {
		t.Errorf("the heal left dc2-n1 down")
	}
}

// Schedule refuses a dclink fault it cannot apply, and a fault naming a
// cluster the world lacks.
func TestDCLinkValidation(t *testing.T) {
	w, cs, cfg := startDCs(t)
	cfg.End = time.Minute
	d := simnet.Latency{Min: time.Millisecond}
	for _, tc := range []struct {
		f    nemesis.Fault
		want string
	}{
		{nemesis.Fault{Kind: nemesis.DCLink, Mode: "down"}, `unknown dclink mode "down" (want cut, slow, flap)`},
		{nemesis.Fault{Kind: nemesis.DCLink, Mode: "cut", Between: []string{"dc1"}}, "a dclink fault is between two clusters, or every one, not 1"},
		{nemesis.Fault{Kind: nemesis.DCLink, Mode: "cut", Between: []string{"dc1", "dc1"}}, `a dclink fault is between two clusters, not "dc1" and itself`},
		{nemesis.Fault{Kind: nemesis.DCLink, Mode: "cut", Between: []string{"dc1", "dc9"}}, `no cluster "dc9" (the world has dc1, dc2, dc3)`},
		{nemesis.Fault{Kind: nemesis.DCLink, Mode: "slow"}, "a dclink fault in mode slow needs a delay"},
		{nemesis.Fault{Kind: nemesis.DCLink, Mode: "flap", Delay: &d}, "a dclink fault in mode flap needs a period above 0, got 0s"},
		{nemesis.Fault{Kind: nemesis.Kill, Cluster: "dc4"}, `no cluster "dc4" (the world has dc1, dc2, dc3)`},
		{nemesis.Fault{Kind: nemesis.Kill, Cluster: "dc2", Target: "dc1-n1"}, `no instance "dc1-n1"`},
	} {
		_, err := nemesis.Schedule(w, cs[0], step(tc.f), cfg)
		if err == nil || err.Error() != "nemesis: step 1: "+tc.want {
			t.Errorf("%+v: %v, want %q", tc.f, err, tc.want)
		}
	}
	one := cfg
	one.DCs = nil
	if _, err := nemesis.Schedule(w, cs[0], step(nemesis.Fault{Kind: nemesis.DCLink, Mode: "cut"}), one); err == nil ||
		err.Error() != "nemesis: step 1: a dclink fault needs a world of several clusters (Config.DCs)" {
		t.Errorf("dclink in a world of one cluster: %v", err)
	}
}
