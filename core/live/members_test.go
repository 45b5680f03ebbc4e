package live

import (
	"testing"

	"github.com/shoaldb/shoal/core/cluster"
)

// TestClusterIDCountsSettings: instances given other settings name
// another cluster, and form none together; a spec without settings keeps
// the ID it had before there were any, so that a members.json written
// then still matches.
func TestClusterIDCountsSettings(t *testing.T) {
	file := func(settings map[string]string) *membersFile {
		return &membersFile{ReplicationFactor: 3, Buckets: DefaultBuckets, Settings: settings,
			Members: []memberRecord{{Name: "n1"}, {Name: "n2"}, {Name: "n3", Domain: map[string]string{"zone": "b"}}}}
	}
	none := clusterID(file(nil))
	// The hash of rf=3 buckets=256;n1@;n2@;n3@zone=b, as written before
	// settings were part of it.
	if none != "c5429d49e75cdc82" {
		t.Errorf("a spec without settings hashes to %s, not what it did before", none)
	}
	one := clusterID(file(map[string]string{"queue.batch": "8"}))
	two := clusterID(file(map[string]string{"queue.batch": "8", "queue.max_messages": "10"}))
	for _, id := range []string{one, two} {
		if id == none {
			t.Errorf("settings do not change the cluster ID")
		}
	}
	if one == two || clusterID(file(map[string]string{"queue.batch": "9"})) == one {
		t.Errorf("other settings give the same cluster ID")
	}
	if again := clusterID(file(map[string]string{"queue.max_messages": "10", "queue.batch": "8"})); again != two {
		t.Errorf("the same settings give another cluster ID: %s, %s", again, two)
	}
	if s := file(map[string]string{"queue.batch": "8"}).spec(); s.Settings["queue.batch"] != "8" {
		t.Errorf("the bootstrap spec lacks the settings: %+v", s)
	}
	if _, err := cluster.Bootstrap(file(map[string]string{"queue.batch": "8"}).spec()); err != nil {
		t.Errorf("the spec does not bootstrap: %v", err)
	}
}
