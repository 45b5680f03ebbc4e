package live

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
)

// fakeRebalance applies the operator's rebalance actions to a real
// configuration, as group 0 would: its refusals are the configuration's
// own, and its status is the one a Node computes.
type fakeRebalance struct {
	*fakeBackend
	mu      sync.Mutex
	conf    *cluster.Config
	unknown bool  // the outcome is unknown: no quorum
	err     error // Rebalance fails with it
}

func (f *fakeRebalance) Rebalance(context.Context) (RebalanceStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return RebalanceStatus{}, f.err
	}
	return rebalanceStatus("n1", f.conf), nil
}

func (f *fakeRebalance) PauseRebalance(_ context.Context, paused bool) error {
	return f.apply(cluster.SetSetting(cluster.RebalancePaused, fmt.Sprint(paused)))
}

func (f *fakeRebalance) AbortMove(_ context.Context, move uint64) error {
	return f.apply(cluster.AbortMove(move))
}

func (f *fakeRebalance) apply(cmd cluster.Command) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unknown {
		return fmt.Errorf("%w: group 0 did not take the change in time", ErrUnknownOutcome)
	}
	if err := f.conf.Apply(cmd); err != nil {
		return fmt.Errorf("%w: %s", ErrTopologyRefused, err)
	}
	return nil
}

// movingConf is two complete replicasets of eight buckets: bucket 7 went
// from rs2 to rs1 and was dropped there, and moves back as move 2.
func movingConf(t *testing.T) *cluster.Config {
	t.Helper()
	spec := cluster.Spec{ReplicationFactor: 3, Buckets: 8}
	for i := range 6 {
		spec.Instances = append(spec.Instances, cluster.InstanceSpec{Name: env.NodeID(fmt.Sprintf("n%d", i+1))})
	}
	conf, err := cluster.Bootstrap(spec)
	if err != nil {
		t.Fatal(err)
	}
	first := cluster.BucketMove{ID: 1, Bucket: 7, From: "rs2", To: "rs1"}
	for _, cmd := range []cluster.Command{
		cluster.StartMove(7, "rs2", "rs1"),
		cluster.CommitMove(first, 10),
		cluster.Dropped(cluster.Leftover{Replicaset: "rs2", Bucket: 7, Move: 1}),
		cluster.StartMove(7, "rs1", "rs2"),
	} {
		if err := conf.Apply(cmd); err != nil {
			t.Fatalf("%s: %v", cmd.Op, err)
		}
	}
	return conf
}

func TestRebalanceAPI(t *testing.T) {
	f := &fakeRebalance{fakeBackend: newFakeBackend(), conf: movingConf(t)}
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
	defer srv.Close()
	const (
		rs     = `"replicasets":[{"name":"rs1","buckets":5,"target":4,"complete":true},{"name":"rs2","buckets":3,"target":4,"complete":true}]`
		moving = `{"node":"n1","paused":%s,"balanced":false,"buckets":8,"moving":{"id":2,"bucket":7,"from":"rs1","to":"rs2"},"moves_started":2,"leftovers":[],` + rs + `}`
	)
	for _, tc := range []struct {
		name, method, path string
		unknown            bool
		err                error
		status             int
		want               string // the exact body, or what it contains
	}{
		{"a move under way", "GET", "/v1/cluster/rebalance", false, nil, 200, fmt.Sprintf(moving, "false")},
		{"pause", "POST", "/v1/cluster/rebalance/pause", false, nil, 200, `{"paused":true}`},
		{"paused", "GET", "/v1/cluster/rebalance", false, nil, 200, fmt.Sprintf(moving, "true")},
		{"pause again", "POST", "/v1/cluster/rebalance/pause", false, nil, 200, `{"paused":true}`},
		{"resume without a quorum", "POST", "/v1/cluster/rebalance/resume", true, nil, 504, "the outcome is unknown"},
		{"resume", "POST", "/v1/cluster/rebalance/resume", false, nil, 200, `{"paused":false}`},
		{"resumed", "GET", "/v1/cluster/rebalance", false, nil, 200, fmt.Sprintf(moving, "false")},
		{"abort without a quorum", "POST", "/v1/cluster/rebalance/abort", true, nil, 504, "the outcome is unknown"},
		{"abort of another move", "POST", "/v1/cluster/rebalance/abort?move=1", false, nil, 409,
			`{"error":"refused: move.abort: move 1 is not under way (move 2 is, of bucket 7)"}`},
		{"abort of no move", "POST", "/v1/cluster/rebalance/abort?move=0", false, nil, 400, "want once a move's ID"},
		{"abort of a garbled move", "POST", "/v1/cluster/rebalance/abort?move=two", false, nil, 400, `got \"two\"`},
		{"abort of two moves", "POST", "/v1/cluster/rebalance/abort?move=2&move=3", false, nil, 400, "got 2 of them"},
		{"abort", "POST", "/v1/cluster/rebalance/abort?move=2", false, nil, 200, `{"aborted":true}`},
		{"aborted", "GET", "/v1/cluster/rebalance", false, nil, 200,
			`{"node":"n1","paused":false,"balanced":false,"buckets":8,"moving":null,"moves_started":2,"leftovers":[{"replicaset":"rs2","bucket":7,"move":2}],` + rs + `}`},
		{"abort with nothing moving", "POST", "/v1/cluster/rebalance/abort", false, nil, 409,
			`{"error":"refused: move.abort: no move is under way"}`},
		{"unavailable", "GET", "/v1/cluster/rebalance", false, fmt.Errorf("%w: the instance is busy", ErrUnavailable), 503, "the instance is busy"},
		{"a status posted", "POST", "/v1/cluster/rebalance", false, nil, 405, "method not allowed (allowed: GET, HEAD)"},
		{"an action read", "GET", "/v1/cluster/rebalance/pause", false, nil, 405, "method not allowed (allowed: POST)"},
		{"an action deleted", "DELETE", "/v1/cluster/rebalance/abort", false, nil, 405, "method not allowed (allowed: POST)"},
		{"no such action", "POST", "/v1/cluster/rebalance/stop", false, nil, 404, `path \"/v1/cluster/rebalance/stop\": no such endpoint`},
	} {
		f.unknown, f.err = tc.unknown, tc.err
		got := call(t, srv, tc.method, tc.path, "", "")
		if got.status != tc.status || !(got.body == tc.want || tc.status != 200 && strings.Contains(got.body, tc.want)) {
			t.Errorf("%s: %s %s: %d %s\nwant %d %s", tc.name, tc.method, tc.path, got.status, got.body, tc.status, tc.want)
		}
	}

	// Once the destination dropped its partial copy and bucket 7 went
	// back to rs2 for good, the spread is even.
	for _, cmd := range []cluster.Command{
		cluster.Dropped(cluster.Leftover{Replicaset: "rs2", Bucket: 7, Move: 2}),
		cluster.StartMove(7, "rs1", "rs2"),
		cluster.CommitMove(cluster.BucketMove{ID: 3, Bucket: 7, From: "rs1", To: "rs2"}, 20),
		cluster.Dropped(cluster.Leftover{Replicaset: "rs1", Bucket: 7, Move: 3}),
	} {
		if err := f.conf.Apply(cmd); err != nil {
			t.Fatalf("%s: %v", cmd.Op, err)
		}
	}
	want := `{"node":"n1","paused":false,"balanced":true,"buckets":8,"moving":null,"moves_started":3,"leftovers":[],` +
		`"replicasets":[{"name":"rs1","buckets":4,"target":4,"complete":true},{"name":"rs2","buckets":4,"target":4,"complete":true}]}`
	if got := call(t, srv, "GET", "/v1/cluster/rebalance", "", ""); got.status != 200 || got.body != want {
		t.Errorf("balanced: %d %s\nwant %s", got.status, got.body, want)
	}

	// A backend that moves no buckets says so.
	plain := httptest.NewServer(NewAPI(newFakeBackend(), APIOptions{Logger: quiet}))
	defer plain.Close()
	for _, route := range []string{"GET /v1/cluster/rebalance", "POST /v1/cluster/rebalance/pause", "POST /v1/cluster/rebalance/resume", "POST /v1/cluster/rebalance/abort"} {
		method, path, _ := strings.Cut(route, " ")
		if got := call(t, plain, method, path, "", ""); got.status != 501 || !strings.Contains(got.body, "moves no buckets") {
			t.Errorf("%s on a backend without rebalancing: %d %s", route, got.status, got.body)
		}
	}
}

// TestRebalanceStatusBalanced: the spread is balanced where the governor
// stops, counts within one of each other, whichever replicaset holds the
// bucket over; an incomplete replicaset keeps what it holds, and counts
// for nothing.
func TestRebalanceStatusBalanced(t *testing.T) {
	for _, tc := range []struct {
		name     string
		owners   []string // bucket b's owner
		balanced bool
	}{
		{"even", []string{"rs1", "rs2", "rs3", "rs1", "rs2", "rs3"}, true},
		{"one over, where the target puts it", []string{"rs1", "rs2", "rs3", "rs1", "rs2", "rs3", "rs1"}, true},
		{"one over, elsewhere", []string{"rs1", "rs2", "rs3", "rs1", "rs2", "rs3", "rs3"}, true},
		{"two over", []string{"rs1", "rs2", "rs3", "rs1", "rs2", "rs3", "rs3", "rs3"}, false},
		{"all on one", []string{"rs1", "rs1", "rs1"}, false},
		{"the incomplete one holds more", []string{"rs4", "rs4", "rs4", "rs4", "rs1", "rs2", "rs3"}, true},
	} {
		conf := &cluster.Config{Settings: map[string]string{}, ReplicationFactor: 1, Buckets: tc.owners}
		for i, rs := range []string{"rs1", "rs2", "rs3", "rs4"} {
			r := cluster.Replicaset{Name: rs, Group: uint64(i + 1)}
			if rs != "rs4" {
				r.Members = []env.NodeID{env.NodeID(fmt.Sprintf("n%d", i+1))}
			}
			conf.Replicasets = append(conf.Replicasets, r)
		}
		if got := rebalanceStatus("n1", conf); got.Balanced != tc.balanced {
			t.Errorf("%s: balanced %v, want %v: %+v", tc.name, got.Balanced, tc.balanced, got.Replicasets)
		}
	}
}

// TestRebalanceOnANode: a formed instance reports its configuration's
// rebalancing in its status and metrics, pauses and resumes it through
// group 0, and has no move to abort.
func TestRebalanceOnANode(t *testing.T) {
	reg := prometheus.NewRegistry()
	n, ctx := formedAlone(t, reg)
	st, err := n.Rebalance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Node != "n1" || !st.Balanced || st.Paused || st.Moving != nil || st.Buckets != DefaultBuckets ||
		len(st.Replicasets) != 1 || st.Replicasets[0] != (LoadStatus{Name: "rs1", Buckets: DefaultBuckets, Target: DefaultBuckets, Complete: true}) {
		t.Errorf("a new instance's rebalancing: %+v", st)
	}
	if err := n.AbortMove(ctx, 0); !errors.Is(err, ErrTopologyRefused) || !strings.Contains(err.Error(), "no move is under way") {
		t.Errorf("abort with nothing moving: %v", err)
	}
	if err := n.PauseRebalance(ctx, true); err != nil {
		t.Fatal(err)
	}
	if st, err := n.Rebalance(ctx); err != nil || !st.Paused {
		t.Errorf("after a pause: %+v, %v", st, err)
	}
	if cs, err := n.Cluster(ctx); err != nil || cs.Rebalance == nil || !cs.Rebalance.Paused || cs.Rebalance.Buckets != DefaultBuckets {
		t.Errorf("the cluster's status after a pause: %+v, %v", cs.Rebalance, err)
	}
	// The action answers once the view the metrics read is published.
	want := map[string]float64{`shoal_rebalance_buckets{replicaset="rs1"}`: DefaultBuckets, `shoal_rebalance_target_buckets{replicaset="rs1"}`: DefaultBuckets,
		"shoal_rebalance_moves_started_total": 0, "shoal_rebalance_moving": 0, "shoal_rebalance_paused": 1, "shoal_rebalance_leftovers": 0, "shoal_rebalance_balanced": 1}
	checkMetrics(t, reg, want)
	if err := n.PauseRebalance(ctx, false); err != nil {
		t.Fatal(err)
	}
	want["shoal_rebalance_paused"] = 0
	checkMetrics(t, reg, want)
}

// checkMetrics gathers reg and compares the samples named in want (name,
// then its labels as {k="v"} in the order declared).
func checkMetrics(t *testing.T, reg *prometheus.Registry, want map[string]float64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Gauge != nil:
				got[name] = m.GetGauge().GetValue()
			case m.Counter != nil:
				got[name] = m.GetCounter().GetValue()
			}
		}
	}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", name, g, ok, v)
		}
	}
}
