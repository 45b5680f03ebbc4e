package harness

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/scenarios/examples"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
	"github.com/shoaldb/shoal/simnet/endpoint"
)

// dcTopologies are two clusters, dc1 replicating to dc2 (one way), with
// every destination of their pipelines simulated.
func dcTopologies(n int) []Topology {
	return []Topology{
		{Name: "dc1", Instances: n, Model: examples.Model, Pipeline: examples.PipelineDC1,
			Endpoints: []string{"dc1-billing", "dc1-test-sink", "dc1-warehouse", "to-dc2"}},
		{Name: "dc2", Instances: n, Model: examples.Model, Pipeline: examples.PipelineDC2Receive,
			Endpoints: []string{"dc2-billing", "dc2-test-sink", "dc2-warehouse"}},
	}
}

func startAll(t *testing.T, seed uint64, ts []Topology) (*simnet.World, []*Cluster) {
	t.Helper()
	w, err := simnet.New(simnet.Config{Seed: seed, KeepTrace: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	cs, err := StartAll(w, ts, node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return w, cs
}

// Named clusters share a World: their instances and clients carry the
// cluster's name, each elects its own leaders, and a destination of type
// shoal gets a gateway to the cluster it names.
func TestClustersShareAWorld(t *testing.T) {
	w, cs := startAll(t, 1, dcTopologies(3))
	dc1, dc2 := cs[0], cs[1]
	if want := []env.NodeID{"dc1-n1", "dc1-n2", "dc1-n3"}; !slices.Equal(dc1.Instances(), want) {
		t.Fatalf("dc1's instances %v, want %v", dc1.Instances(), want)
	}
	if want := []env.NodeID{"dc2-n1", "dc2-n2", "dc2-n3"}; !slices.Equal(dc2.Members("config"), want) {
		t.Fatalf("dc2's members %v, want %v", dc2.Members("config"), want)
	}
	if got := dc1.Bootstrap().Name; got != "dc1" {
		t.Fatalf("dc1 bootstraps as %q", got)
	}
	gw := connector.Endpoint("to-dc2")
	if !slices.Equal(dc1.Gateways(), []env.NodeID{gw}) || dc1.GatewayTo(gw) != "dc2" || len(dc2.Gateways()) != 0 {
		t.Fatalf("gateways: dc1 %v (to %q), dc2 %v", dc1.Gateways(), dc1.GatewayTo(gw), dc2.Gateways())
	}
	if !slices.Contains(dc1.Endpoints(), gw) {
		t.Fatalf("dc1's endpoints %v leave out its gateway", dc1.Endpoints())
	}
	names, err := dc2.AddClients(1, client.Config{}, func(int) client.Workload { return &client.Reads{} })
	if err != nil || !slices.Equal(names, []env.NodeID{"dc2-c1"}) {
		t.Fatalf("AddClients: %v, %v", names, err)
	}
	waitLeader(t, w, dc1, "config", 3*time.Second)
	waitLeader(t, w, dc2, "config", 3*time.Second)
}

// What StartAll refuses, and how it says so.
func TestStartAllRefuses(t *testing.T) {
	clash := dcTopologies(1)
	clash[1].Endpoints = append(clash[1].Endpoints, "dc1-billing")
	nameless := dcTopologies(1)
	nameless[1].Name = ""
	twice := dcTopologies(1)
	twice[1].Name = "dc1"
	alone := dcTopologies(1)[:1]
	bad := dcTopologies(1)
	bad[0].Name = "DC1"
	for _, tc := range []struct {
		name string
		ts   []Topology
		want string
	}{
		{"clash", clash, `harness: clusters "dc1" and "dc2" both simulate ext/dc1-billing: destination and kafka connector names must be unique across the clusters of a world`},
		{"nameless", nameless, "harness: cluster 2 has no name: each of several clusters in one world needs one"},
		{"twice", twice, `harness: clusters 1 and 2 are both named "dc1"`},
		{"unknown receiver", alone, `harness: cluster "dc1": destination to-dc2 replicates to cluster "dc2", which is not in the world (it has "dc1")`},
		{"bad name", bad, `harness: cluster 1: cluster name "DC1": want 1 to 63 lower-case letters, digits and hyphens, starting with a letter`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := simnet.New(simnet.Config{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			_, err = StartAll(w, tc.ts, node.Config{})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("StartAll: %v, want %q", err, tc.want)
			}
		})
	}
}

// pusher sends pushes to a gateway as an instance would, and keeps the
// answers.
type pusher struct {
	e      env.Env
	to     env.NodeID
	answer []*connector.Pushed
}

type pushNow struct{ p *connector.Push }

func (pushNow) Kind() string { return "test.push" }

func (p *pusher) Handle(ev env.Event) {
	if ev, ok := ev.(pushNow); ok {
		p.e.Send(p.to, ev.p)
	}
}

func (p *pusher) Receive(_ env.NodeID, m env.Message) {
	if m, ok := m.(*connector.Pushed); ok {
		p.answer = append(p.answer, m)
	}
}

// changePush is a push of n changes of Customers, as dc1 renders them.
func changePush(id uint64, n int, timeout time.Duration) *connector.Push {
	p := &connector.Push{ID: id, Replicaset: "rs1", Destination: "to-dc2", Timeout: timeout}
	r := &connector.Replication{Cluster: "dc2", Connector: "replication"}
	for i := range n {
		c := kv.Change{Type: "Customer", PK: fmt.Sprintf("c%d", i), Route: fmt.Sprintf("c%d", i), Version: 1,
			Value: []byte(fmt.Sprintf(`{"id":"c%d","name":"x","created":"2024-01-01T00:00:00Z"}`, i)), Time: 1000 + int64(i), Origin: "dc1"}
		req, err := r.Render(&connector.Message{IdempotencyKey: fmt.Sprintf("rs1/%d", i+1), Value: c.Encode()})
		if err != nil {
			panic(err)
		}
		p.Items = append(p.Items, connector.Item{Seq: uint64(i + 1), IdempotencyKey: fmt.Sprintf("dc1/rs1/%d", i+1), OrderKey: c.Route, Request: req})
	}
	return p
}

// The gateway answers every item of a push, and ok only for an item
// whose enqueue an instance of the receiving cluster acknowledged (its
// kv.response with status ok is in the trace); with every link to the
// receiving cluster cut it answers none ok, within the push's timeout.
func TestGatewayAcknowledgesOnlyWhatTheReceiverDid(t *testing.T) {
	for _, cut := range []bool{false, true} {
		t.Run(fmt.Sprintf("cut=%t", cut), func(t *testing.T) {
			w, cs := startAll(t, 3, dcTopologies(3))
			waitLeader(t, w, cs[1], "rs1", 3*time.Second)
			gw := connector.Endpoint("to-dc2")
			p := &pusher{to: gw}
			if err := w.AddNode("dc1-pusher", func(e env.Env) (env.Node, error) { p.e = e; return p, nil }); err != nil {
				t.Fatal(err)
			}
			if cut {
				for _, id := range cs[1].Instances() {
					w.Cut(gw, id)
				}
			}
			w.Post("dc1-pusher", pushNow{changePush(7, 5, 2*time.Second)})
			runUntil(t, w, w.Now()+3*time.Second)
			if len(p.answer) != 1 || len(p.answer[0].Results) != 5 || p.answer[0].ID != 7 {
				t.Fatalf("answers %+v, want one of 5 results to push 7", p.answer)
			}
			// What dc2 enqueued, as its leader applied it.
			l, _ := cs[1].Leader("rs1")
			q, err := cs[1].Node(l).Queue("rs1", "")
			if err != nil {
				t.Fatal(err)
			}
			ok := 0
			for _, res := range p.answer[0].Results {
				switch {
				case res.Err == "":
					ok++
				case cut && !strings.Contains(res.Err, "no acknowledgement from cluster dc2"):
					t.Errorf("item %d: %q", res.Seq, res.Err)
				}
			}
			if ok > int(q.Tail) || cut && ok > 0 || !cut && ok != 5 {
				t.Errorf("%d items answered ok, dc2 enqueued %d (cut: %t)", ok, q.Tail, cut)
			}
			if g := cs[0].Gateway(gw); g == nil || g.InFlight() != 0 || g.Waiting() != 0 {
				t.Fatalf("the gateway still holds work: %+v", g)
			}
		})
	}
}

// A gateway in fail mode refuses every item without forwarding it.
func TestGatewayFailMode(t *testing.T) {
	w, cs := startAll(t, 1, dcTopologies(1))
	gw := connector.Endpoint("to-dc2")
	if err := cs[0].SetEndpointMode(gw, endpoint.SetMode{Mode: endpoint.Fail}); err != nil {
		t.Fatal(err)
	}
	p := &pusher{to: gw}
	if err := w.AddNode("dc1-pusher", func(e env.Env) (env.Node, error) { p.e = e; return p, nil }); err != nil {
		t.Fatal(err)
	}
	w.Post("dc1-pusher", pushNow{changePush(1, 2, time.Second)})
	runUntil(t, w, w.Now()+100*time.Millisecond)
	if len(p.answer) != 1 {
		t.Fatalf("answers %+v", p.answer)
	}
	for _, r := range p.answer[0].Results {
		if r.Err != endpoint.DefaultReason {
			t.Errorf("item %d: %q, want %q", r.Seq, r.Err, endpoint.DefaultReason)
		}
	}
}
