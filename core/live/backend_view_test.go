package live

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoaldb/shoal/scenarios/examples"
)

// formedAlone opens instance n1 alone (reg, if set, holds its
// metrics), forms its cluster and waits for its access configuration;
// the test's cleanup closes it. ctx bounds what the test does with it.
func formedAlone(t *testing.T, reg *prometheus.Registry) (*Node, context.Context) {
	t.Helper()
	cfg := Config{Name: "n1", DataDir: t.TempDir(), PeerAddr: "127.0.0.1:0", Logger: quiet}
	if reg != nil {
		cfg.Registry = reg
	}
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	if err := n.Form(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.AwaitAccess(ctx); err != nil {
		t.Fatal(err)
	}
	return n, ctx
}

// A formed instance publishes the view of group 0 its requests read:
// the replicasets its cluster status names, and a model as soon as the
// proposal that made it in force has answered.
func TestConfigView(t *testing.T) {
	n, ctx := formedAlone(t, nil)
	names, ok := n.ReplicasetNames()
	st, err := n.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, rs := range st.Replicasets {
		want = append(want, rs.Name)
	}
	if !ok || !slices.Equal(names, want) || len(want) == 0 {
		t.Fatalf("the view's replicasets %q (%v), the status's %q", names, ok, want)
	}
	rev, err := n.ProposeModel(ctx, examples.Model)
	if err != nil {
		t.Fatal(err)
	}
	// No wait: the proposal publishes before it answers.
	models, ok := n.ModelsNow()
	if !ok || len(models.Revisions) == 0 || models.Revisions[len(models.Revisions)-1].Revision != rev {
		t.Fatalf("right after revision %d was accepted the view has %+v (%v)", rev, models.Revisions, ok)
	}
	loop, err := n.Models(ctx)
	if err != nil || len(loop.Revisions) != len(models.Revisions) || loop.Revisions[0].Digest != models.Revisions[0].Digest {
		t.Errorf("the loop's models %+v (%v), the view's %+v", loop.Revisions, err, models.Revisions)
	}
}
