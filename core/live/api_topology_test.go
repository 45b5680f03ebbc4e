package live

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
)

// fakeTopology applies expulsions to a real configuration, as group 0
// would: its refusals are the configuration's own.
type fakeTopology struct {
	*fakeBackend
	conf    *cluster.Config
	unknown bool // the outcome is unknown: no quorum
}

func (f *fakeTopology) Expel(ctx context.Context, name string, force bool) error {
	if f.unknown {
		return fmt.Errorf("%w: group 0 did not take the expulsion in time", ErrUnknownOutcome)
	}
	if err := f.conf.Apply(cluster.Expel(env.NodeID(name), force)); err != nil {
		return fmt.Errorf("%w: %s", ErrTopologyRefused, err)
	}
	return nil
}

func TestExpelAPI(t *testing.T) {
	spec := cluster.Spec{ReplicationFactor: 3, Buckets: 8}
	for _, n := range []env.NodeID{"n1", "n2", "n3"} {
		spec.Instances = append(spec.Instances, cluster.InstanceSpec{Name: n})
	}
	conf, err := cluster.Bootstrap(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := conf.Apply(cluster.MarkOffline("n3", "not heard from for 10s")); err != nil {
		t.Fatal(err)
	}
	f := &fakeTopology{fakeBackend: newFakeBackend(), conf: conf}
	srv := httptest.NewServer(NewAPI(f, APIOptions{Logger: quiet}))
	defer srv.Close()
	for _, tc := range []struct {
		name, path string
		unknown    bool
		status     int
		want       string
	}{
		{"online, without force", "/v1/cluster/instances/n2/expel", false, 409, "n2 is online: expel an instance once it is offline, or force it"},
		{"a bad force", "/v1/cluster/instances/n2/expel?force=yes", false, 400, "force: want once true or false"},
		{"no such instance", "/v1/cluster/instances/n9/expel", false, 404, `no instance named \"n9\"`},
		{"no quorum", "/v1/cluster/instances/n3/expel", true, 504, "the outcome is unknown"},
		{"offline", "/v1/cluster/instances/n3/expel", false, 200, `{"expelling":"n3"}`},
		{"again", "/v1/cluster/instances/n3/expel", false, 409, "n3 is already expelled"},
		{"online, forced", "/v1/cluster/instances/n2/expel?force=true", false, 200, `{"expelling":"n2"}`},
	} {
		f.unknown = tc.unknown
		got := call(t, srv, "POST", tc.path, "", "")
		if got.status != tc.status || !strings.Contains(got.body, tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, got.status, got.body, tc.status, tc.want)
		}
	}
	if in, _ := conf.Instance("n2"); in.Target != cluster.Expelled || !strings.Contains(in.Reason, "forced") {
		t.Errorf("n2 after a forced expulsion: %+v", in)
	}
	// A backend that changes no topology says so.
	plain := httptest.NewServer(NewAPI(newFakeBackend(), APIOptions{Logger: quiet}))
	defer plain.Close()
	if got := call(t, plain, "POST", "/v1/cluster/instances/n3/expel", "", ""); got.status != 501 {
		t.Errorf("a backend without topology: %d %s", got.status, got.body)
	}
}
