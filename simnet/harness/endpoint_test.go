package harness

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/endpoint"
)

// TestEndpointsAreNoInstances: a topology's endpoints run as nodes of the
// World at connector.Endpoint(name), but no instance list, group or spec
// names them.
func TestEndpointsAreNoInstances(t *testing.T) {
	w, c := start(t, 1, Topology{Instances: 3, Endpoints: []string{"hook", "topic"}}, node.Config{})
	waitLeader(t, w, c, "config", 3*time.Second)
	want := []env.NodeID{connector.Endpoint("hook"), connector.Endpoint("topic")}
	if !slices.Equal(c.Endpoints(), want) {
		t.Fatalf("Endpoints() = %v, want %v", c.Endpoints(), want)
	}
	instances := []env.NodeID{"n1", "n2", "n3"}
	if !slices.Equal(c.Instances(), instances) || !slices.Equal(c.Members("config"), instances) {
		t.Fatalf("Instances() %v, Members(config) %v, want %v", c.Instances(), c.Members("config"), instances)
	}
	if n := len(c.Config().Spec.Instances); n != 3 {
		t.Fatalf("the spec has %d instances, want 3", n)
	}
	for _, rs := range c.Replicasets() {
		for _, m := range c.Members(rs) {
			if _, ext := connector.IsEndpoint(m); ext {
				t.Fatalf("replicaset %s has endpoint %s as a member", rs, m)
			}
		}
	}
	for _, id := range want {
		if !w.Up(id) {
			t.Errorf("%s is down", id)
		}
	}
	if !slices.Equal(w.Nodes(), append(instances, want...)) {
		t.Errorf("World nodes %v, want the instances, then the endpoints", w.Nodes())
	}
}

// TestEndpointModeOutlastsCrash: a mode set with SetEndpointMode is in
// force at once, after a crash, and when it was set while the endpoint was
// down.
func TestEndpointModeOutlastsCrash(t *testing.T) {
	w, c := start(t, 1, Topology{Instances: 1, Endpoints: []string{"hook"}}, node.Config{})
	hook := connector.Endpoint("hook")
	modes := func() []string {
		var out []string
		for _, r := range records(t, w) {
			if r.Kind == "endpoint.mode" && r.Node == hook {
				m, _ := r.Str("mode")
				out = append(out, m)
			}
		}
		return out
	}
	fail := endpoint.SetMode{Mode: endpoint.Fail, FailRate: 0.5}
	w.At(100*time.Millisecond, func() {
		if err := c.SetEndpointMode(hook, fail); err != nil {
			t.Error(err)
		}
	})
	w.At(200*time.Millisecond, func() { w.Kill(hook) })
	w.At(300*time.Millisecond, func() { w.Restart(hook) })
	w.At(400*time.Millisecond, func() { w.Kill(hook) })
	w.At(500*time.Millisecond, func() {
		if err := c.SetEndpointMode(hook, endpoint.SetMode{Mode: endpoint.Slow, Delay: time.Second}); err != nil {
			t.Error(err)
		}
	})
	w.At(600*time.Millisecond, func() { w.Restart(hook) })
	runUntil(t, w, time.Second)
	// At start, set, restart, (set while down: dropped), restart.
	if got, want := strings.Join(modes(), ","), "up,fail,fail,slow"; got != want {
		t.Fatalf("endpoint.mode events %s, want %s", got, want)
	}
}

func TestEndpointErrors(t *testing.T) {
	for _, dests := range [][]string{{""}, {"a b"}, {"hook", "hook"}} {
		w, err := simnet.New(simnet.Config{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Start(w, Topology{Instances: 1, Endpoints: dests}, node.Config{}); err == nil {
			t.Errorf("endpoints %q: Start accepted them", dests)
		}
		w.Close()
	}
	_, c := start(t, 1, Topology{Instances: 1, Endpoints: []string{"hook"}}, node.Config{})
	if err := c.SetEndpointMode("n1", endpoint.SetMode{}); err == nil {
		t.Error("SetEndpointMode accepted an instance")
	}
	if err := c.SetEndpointMode(connector.Endpoint("other"), endpoint.SetMode{}); err == nil {
		t.Error("SetEndpointMode accepted an endpoint the topology lacks")
	}
	if err := c.SetEndpointMode(connector.Endpoint("hook"), endpoint.SetMode{Mode: "down"}); err == nil {
		t.Error("SetEndpointMode accepted mode down")
	}
}
