package endpoint_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/endpoint"
)

var gw = connector.Endpoint("to-dc2")

// receiver is an instance of the receiving cluster that answers every
// enqueue as its script says: "ok", "busy", "redirect:NODE", or ""
// (no answer); it counts what it got.
type receiver struct {
	e      env.Env
	answer string
	got    *int
}

func (r *receiver) Handle(env.Event) {}

func (r *receiver) Receive(from env.NodeID, m env.Message) {
	req, ok := m.(*kv.Request)
	if !ok || req.Op != kv.OpEnqueue {
		return
	}
	*r.got++
	resp := &kv.Response{Client: req.Client, Seq: req.Seq}
	switch {
	case r.answer == "ok":
		resp.Status = kv.StatusOK
	case r.answer == "busy":
		resp.Status, resp.Error = kv.StatusBusy, "the inbound queue is full"
	case strings.HasPrefix(r.answer, "redirect:"):
		resp.Status, resp.Leader = kv.StatusRedirect, env.NodeID(strings.TrimPrefix(r.answer, "redirect:"))
	default:
		return
	}
	r.e.Send(from, resp)
}

// gatewayRun pushes n items to a gateway whose receiving cluster has
// instances r1 and r2 answering as answers says, and returns the
// results and how many enqueues each instance got.
func gatewayRun(t *testing.T, cfg endpoint.GatewayConfig, answers [2]string, n int) ([]connector.Result, [2]int) {
	t.Helper()
	w, err := simnet.New(simnet.Config{Seed: 5, KeepTrace: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cfg.Cluster, cfg.Connector, cfg.Servers = "dc2", "replication", []env.NodeID{"r1", "r2"}
	if err := w.AddNode(gw, endpoint.StartGateway(cfg)); err != nil {
		t.Fatal(err)
	}
	var got [2]int
	for i, name := range []env.NodeID{"r1", "r2"} {
		if err := w.AddNode(name, func(e env.Env) (env.Node, error) { return &receiver{e: e, answer: answers[i], got: &got[i]}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	var answered []answer
	if err := w.AddNode(pusher, func(e env.Env) (env.Node, error) { return &testPusher{e: e, got: &answered}, nil }); err != nil {
		t.Fatal(err)
	}
	p := &connector.Push{ID: 1, Replicaset: "rs1", Destination: "to-dc2", Timeout: 3 * time.Second}
	for i := range n {
		p.Items = append(p.Items, connector.Item{Seq: uint64(i + 1), IdempotencyKey: fmt.Sprintf("k%d", i),
			Request: connector.Request{Key: []byte("route"), Headers: []connector.Header{{Name: "Idempotency-Key", Value: fmt.Sprintf("dc1/k%d", i)}}, Body: []byte("{}")}})
	}
	w.Post(pusher, sendPush{to: gw, p: p})
	if err := w.Run(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if len(answered) != 1 {
		t.Fatalf("%d answers to one push", len(answered))
	}
	return answered[0].pushed.Results, got
}

// The gateway answers ok only what the receiving cluster acknowledged,
// follows redirects, and turns busy and silence into errors.
func TestGatewayResults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answers [2]string
		want    string // every item's Err
	}{
		{"acknowledged", [2]string{"ok", "ok"}, ""},
		{"redirected", [2]string{"redirect:r2", "ok"}, ""},
		{"busy", [2]string{"busy", "busy"}, "cluster dc2 is busy: the inbound queue is full"},
		{"silent", [2]string{"", ""}, "no acknowledgement from cluster dc2 within 3s"},
		{"redirected into silence", [2]string{"redirect:r2", ""}, "no acknowledgement from cluster dc2 within 3s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, got := gatewayRun(t, endpoint.GatewayConfig{}, tc.answers, 3)
			for _, r := range res {
				if r.Err != tc.want {
					t.Errorf("item %d: %q, want %q", r.Seq, r.Err, tc.want)
				}
			}
			if got[0]+got[1] < 3 {
				t.Errorf("the receiving cluster got %v enqueues for 3 items", got)
			}
		})
	}
}

// At most MaxInFlight enqueues are out at once, and a push of more items
// than MaxWaiting is refused whole, forwarding nothing.
func TestGatewayBounds(t *testing.T) {
	res, got := gatewayRun(t, endpoint.GatewayConfig{MaxInFlight: 2, Retry: 10 * time.Second}, [2]string{"", ""}, 5)
	if got[0]+got[1] != 2 {
		t.Errorf("%v enqueues out with MaxInFlight 2 and no answers", got)
	}
	for _, r := range res {
		if r.Err == "" {
			t.Errorf("item %d answered ok", r.Seq)
		}
	}
	res, got = gatewayRun(t, endpoint.GatewayConfig{MaxWaiting: 4}, [2]string{"ok", "ok"}, 5)
	if got[0]+got[1] != 0 {
		t.Errorf("%v enqueues of a push refused whole", got)
	}
	for _, r := range res {
		if !strings.HasPrefix(r.Err, "gateway to cluster dc2 is full") {
			t.Errorf("item %d: %q", r.Seq, r.Err)
		}
	}
}
