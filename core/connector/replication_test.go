package connector

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/kv"
)

func TestReplicationParse(t *testing.T) {
	c := mustSection(t, `connectors:
  inbound:
    replication:
      type: shoal
      from: [dc1, dc3]
      token_sha256: 0000000000000000000000000000000000000000000000000000000000000000
    any:
      type: shoal
  outbound:
    to-dc2:
      type: shoal
      cluster: dc2
      types: [Customer]
      urls: [http://dc2-a:8080, https://dc2-b]
      token_env: SHOAL_DC2_TOKEN
    to-dc3:
      type: shoal
      cluster: dc3
      connector: from-dc1
`)
	r := c.Destination("to-dc2").Spec.(*Replication)
	want := &Replication{Cluster: "dc2", Connector: DefaultReplicationConnector, Types: []string{"Customer"}, URLs: []string{"http://dc2-a:8080", "https://dc2-b"},
		TokenEnv: "SHOAL_DC2_TOKEN"}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("to-dc2: %+v, want %+v", r, want)
	}
	if !r.Replicates("Customer") || r.Replicates("Order") {
		t.Error("to-dc2 replicates the wrong types")
	}
	r3 := c.Destination("to-dc3").Spec.(*Replication)
	if r3.Connector != "from-dc1" || !r3.Replicates("Order") {
		t.Errorf("to-dc3: %+v", r3)
	}
	in := c.Connector("replication").Spec.(*ReplicationInbound)
	if !in.Accepts("dc1") || in.Accepts("dc2") || !in.NeedsToken() || in.MaxBody != DefaultMaxBody {
		t.Errorf("replication: %+v", in)
	}
	if any := c.Connector("any").Spec.(*ReplicationInbound); !any.Accepts("dc9") || any.NeedsToken() {
		t.Errorf("any: %+v", any)
	}
	for _, c := range []struct{ file, want string }{
		{"    x: {type: shoal}", "missing required key `cluster`"},
		{"    x: {type: shoal, cluster: DC2}", `cluster name "DC2"`},
		{"    x: {type: shoal, cluster: dc2, urls: [dc2:8080]}", "absolute http or https URLs"},
		{"    x: {type: shoal, cluster: dc2, types: []}", "must not be empty"},
		{"    x: {type: shoal, cluster: dc2, typo: 1}", "typo"},
		{"    x: {type: shoal, cluster: dc2, token_env: shoal_ingest_abc}", "not an environment variable's name"},
	} {
		if _, err := parseSection("connectors:\n  outbound:\n"+c.file+"\n", Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error about %q", c.file, err, c.want)
		}
	}
	if _, err := parseSection("connectors:\n  inbound:\n    x: {type: shoal, from: [dc_1]}\n", Options{}); err == nil || !strings.Contains(err.Error(), `cluster name "dc_1"`) {
		t.Errorf("from: [dc_1]: %v", err)
	}
}

func TestReplicationRender(t *testing.T) {
	r := &Replication{Cluster: "dc2", Connector: DefaultReplicationConnector}
	change := kv.Change{Type: "Customer", PK: "c1", Route: "tenant-1", Version: 2, Value: []byte(`{"id":"c1"}`), Time: 7, Origin: "dc1"}
	m := &Message{Destination: "to-dc2", Seq: 3, IdempotencyKey: "rs1-3", Value: change.Encode()}
	req, err := r.Render(m)
	if err != nil {
		t.Fatal(err)
	}
	want := Request{Key: []byte("tenant-1"), Body: change.Encode(), Headers: []Header{
		{"Content-Type", "application/json"}, {"Idempotency-Key", "dc1/rs1-3"}, {OriginHeader, "dc1"},
	}}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("Render: %+v\nwant %+v", req, want)
	}
	m.Value = []byte(`{"type":"Customer"}`)
	if _, err := r.Render(m); err == nil || !strings.Contains(err.Error(), "primary key is empty") {
		t.Errorf("Render of a broken change: %v", err)
	}
}

// A write carries the list of the shoal destinations it goes to, at most
// kv.MaxReplicate; a section that declares more is refused.
func TestReplicationDestinationsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("connectors:\n  outbound:\n")
	for i := range kv.MaxReplicate + 1 {
		fmt.Fprintf(&b, "    to-c%d: {type: shoal, cluster: c%d}\n", i, i)
	}
	if _, err := parseSection(b.String(), Options{}); err == nil || !strings.Contains(err.Error(), "has 17 destinations of type shoal, at most 16") {
		t.Errorf("17 shoal destinations: %v", err)
	}
}
