package harness

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
	"github.com/shoaldb/shoal/simnet/endpoint"
)

// webhooks declares the example pipeline's destinations as webhooks. In
// the simulator their endpoints are simulated; the URLs are what
// production would call.
const webhooks = `
connectors:
  outbound:
    test-sink:
      type: webhook
      url: http://sink.example/hook
      backoff_max: 2s
    billing: {type: webhook, url: "http://billing.example/hook"}
    warehouse: {type: webhook, url: "http://warehouse.example/hook"}
`

// outboundFinals reads every replicaset's outbound queue on its first
// member, for the outbound checker.
func outboundFinals(t testing.TB, c *Cluster) []checker.OutboundFinal {
	t.Helper()
	var out []checker.OutboundFinal
	for _, rs := range c.Replicasets() {
		tail, waiting, repairs, err := c.Node(c.Members(rs)[0]).OutboundQueue(rs)
		if err != nil {
			t.Fatal(err)
		}
		f := checker.OutboundFinal{Replicaset: rs, Tail: tail}
		for _, e := range waiting {
			f.Waiting = append(f.Waiting, e.Seq)
		}
		for _, e := range repairs {
			f.Repaired = append(f.Repaired, e.Origin)
		}
		out = append(out, f)
	}
	return out
}

// TestOutboundWebhookRecovers: test traffic goes to the test-sink webhook,
// which refuses everything for a while, then answers slowly, then
// recovers; every message reaches it, its effect once, in order, and
// nothing is left in the outbound queue or sent to repair.
func TestOutboundWebhookRecovers(t *testing.T) {
	topo, m := examplePipeline(t)
	topo.Pipeline = append(topo.Pipeline, webhooks...)
	topo.Instances = 3
	topo.Endpoints = []string{"test-sink"}
	w, c := start(t, 5, topo, node.Config{})
	var ops []client.Op
	for i := range 40 {
		op := crmCustomer(t, m, fmt.Sprintf("t%d", i), false)
		op.Label = ""
		op.Message.Headers = append(op.Message.Headers, kv.Header{Name: "X-Test", Value: "1"})
		ops = append(ops, op)
	}
	var st client.Stats
	if _, err := c.AddClients(1, client.Config{Target: "random", Interval: 200 * time.Millisecond, Stats: &st, Delay: 2 * time.Second},
		func(int) client.Workload { return &client.List{Ops: ops} }); err != nil {
		t.Fatal(err)
	}
	sink := connector.Endpoint("test-sink")
	mode := func(at time.Duration, m endpoint.SetMode) {
		w.At(at, func() {
			if err := c.SetEndpointMode(sink, m); err != nil {
				t.Error(err)
			}
		})
	}
	mode(4*time.Second, endpoint.SetMode{Mode: endpoint.Fail, Reason: "503 Service Unavailable"})
	mode(14*time.Second, endpoint.SetMode{Mode: endpoint.Slow, Delay: 300 * time.Millisecond})
	mode(18*time.Second, endpoint.SetMode{Mode: endpoint.Up})
	runUntil(t, w, 40*time.Second)
	if st.OK != len(ops) {
		t.Fatalf("%d of %d enqueues ok (%d failed, %d unknown)", st.OK, len(ops), st.Fail, st.Info)
	}
	recs := records(t, w)
	res := checker.Outbound(recs, outboundFinals(t, c))
	if res.Verdict != checker.Valid {
		t.Fatalf("outbound: %s: %s", res.Verdict, res.Explanation)
	}
	taken, refused := 0, 0
	for _, r := range recs {
		switch {
		case r.Kind == "endpoint.receive" && must1(r.Int("dup")) == 0:
			taken++
		case r.Kind == "endpoint.refuse":
			refused++
		}
	}
	if taken != len(ops) || refused == 0 {
		t.Fatalf("the sink took %d of %d messages as new, refused %d times", taken, len(ops), refused)
	}
	for _, f := range outboundFinals(t, c) {
		if len(f.Repaired) != 0 {
			t.Fatalf("%s sent %d messages to repair", f.Replicaset, len(f.Repaired))
		}
	}
	t.Log(res.Explanation)
}

func must1(v int64, _ bool) int64 { return v }

// TestOutboundDeterministic: a run with deliveries, refusals and a leader
// killed mid-stream replays exactly.
func TestOutboundDeterministic(t *testing.T) {
	run := func() [32]byte {
		topo, m := examplePipeline(t)
		topo.Pipeline = append(topo.Pipeline, webhooks...)
		topo.Instances = 3
		topo.Endpoints = []string{"test-sink"}
		w, c := startWorld(t, simnet.Config{Seed: 11, KeepTrace: true}, topo, node.Config{})
		var ops []client.Op
		for i := range 30 {
			op := crmCustomer(t, m, fmt.Sprintf("t%d", i), false)
			op.Label = ""
			op.Message.Headers = append(op.Message.Headers, kv.Header{Name: "X-Test", Value: "1"})
			ops = append(ops, op)
		}
		if _, err := c.AddClients(1, client.Config{Target: "random", Interval: 100 * time.Millisecond, Delay: 2 * time.Second},
			func(int) client.Workload { return &client.List{Ops: ops} }); err != nil {
			t.Fatal(err)
		}
		w.At(3*time.Second, func() {
			c.SetEndpointMode(connector.Endpoint("test-sink"), endpoint.SetMode{Mode: endpoint.Fail, FailRate: 0.5, Reason: "502 Bad Gateway"})
			if l, ok := c.Leader("rs1"); ok {
				w.Kill(l)
				w.After(2*time.Second, func() { w.Restart(l) })
			}
		})
		runUntil(t, w, 40*time.Second)
		if res := checker.Outbound(records(t, w), outboundFinals(t, c)); res.Verdict != checker.Valid {
			t.Fatalf("outbound: %s: %s", res.Verdict, res.Explanation)
		}
		h := w.TraceHash()
		w.Close()
		return h
	}
	if a, b := run(), run(); a != b {
		t.Fatalf("two runs of one seed differ: %x, %x", a[:8], b[:8])
	}
}
