package cluster

import (
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/scenarios/examples"
)

func TestSetPipeline(t *testing.T) {
	c := &Config{Settings: map[string]string{}}
	apply := func(src string) error { t.Helper(); return c.Apply(SetPipeline([]byte(src))) }
	rev := func() int {
		if c.Pipeline == nil {
			return 0
		}
		return c.Pipeline.Revision
	}
	if err := apply(string(examples.Pipeline)); err != nil || rev() != 1 {
		t.Fatalf("the example pipeline: %v, revision %d", err, rev())
	}
	// The same file again (every instance given it sets it): no new revision.
	if err := apply(string(examples.Pipeline)); err != nil || rev() != 1 {
		t.Fatalf("set again: %v, revision %d", err, rev())
	}
	// A handler this binary lacks is no reason to refuse: another
	// instance's binary may have it.
	custom := "routes: {default: k}\nchains:\n  k:\n    - my-handler: {x: 1}\n    - set-type: T\n"
	if err := apply(custom); err != nil || rev() != 2 || c.Pipeline.Source != custom {
		t.Fatalf("a pipeline naming an unknown handler: %v, revision %d", err, rev())
	}
	err := apply("routes: {default: k}\nchains: {j: [{set-type: T}]}\n")
	if err == nil || !strings.Contains(err.Error(), "pipeline.yaml:1:") || rev() != 2 {
		t.Fatalf("an invalid pipeline: %v (revision %d), want refused with its line", err, rev())
	}
	if err := apply(""); err != nil || rev() != 3 || c.Pipeline.Source != "" {
		t.Fatalf("removing the pipeline: %v, revision %d", err, rev())
	}
}

func TestQueueSettings(t *testing.T) {
	c := &Config{Settings: map[string]string{}}
	if q := c.Queue(); q != DefaultQueueSettings {
		t.Fatalf("defaults %+v, want %+v", q, DefaultQueueSettings)
	}
	for k, v := range map[string]string{"queue.max_messages": "20", "queue.max_bytes": "4096", "queue.window": "1h",
		"queue.max_ids": "100", "queue.batch": "8", "queue.retry_after": "250ms", "other.setting": "anything"} {
		if err := c.Apply(SetSetting(k, v)); err != nil {
			t.Fatalf("set %s=%s: %v", k, v, err)
		}
	}
	want := QueueSettings{MaxMessages: 20, MaxBytes: 4096, Window: time.Hour, MaxIDs: 100, Batch: 8, RetryAfter: 250 * time.Millisecond}
	if q := c.Queue(); q != want {
		t.Fatalf("settings %+v, want %+v", q, want)
	}
	for _, bad := range [][2]string{{"queue.batch", "0"}, {"queue.batch", "257"}, {"queue.window", "soon"}, {"queue.retry_after", "0s"},
		{"queue.max_messages", "-1"}, {"queue.size", "3"}} {
		if err := c.Apply(SetSetting(bad[0], bad[1])); err == nil {
			t.Errorf("set %s=%s was taken", bad[0], bad[1])
		}
	}
	if q := c.Queue(); q != want {
		t.Fatalf("a refused setting changed them: %+v", q)
	}
}

func TestBootstrapPipelineAndSettings(t *testing.T) {
	spec := Spec{Instances: []InstanceSpec{{Name: "n1"}}, ReplicationFactor: 1, Buckets: 4, Model: examples.Model,
		Pipeline: examples.Pipeline, Settings: map[string]string{"queue.max_messages": "5"}}
	c, err := Bootstrap(spec)
	if err != nil {
		t.Fatal(err)
	}
	if c.Pipeline == nil || c.Pipeline.Revision != 1 || c.Queue().MaxMessages != 5 {
		t.Fatalf("pipeline %+v, queue %+v", c.Pipeline, c.Queue())
	}
	spec.Settings = map[string]string{"queue.batch": "none"}
	if _, err := Bootstrap(spec); err == nil || !strings.Contains(err.Error(), "queue.batch") {
		t.Fatalf("a bad setting at bootstrap: %v", err)
	}
}
