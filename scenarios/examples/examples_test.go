package examples

import (
	"slices"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/handler"
	"github.com/shoaldb/shoal/core/model"
)

func TestModelsParseAndSucceed(t *testing.T) {
	m, err := model.Parse("model.yaml", Model)
	if err != nil {
		t.Fatal(err)
	}
	next, err := model.Parse("model-next.yaml", ModelNext)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckSuccessor(next); err != nil {
		t.Fatal(err)
	}
}

// Both pipelines parse; pipeline-outbound.yaml declares the destinations
// pipeline.yaml sends to, and crm-sync, which its customers chain sends
// every customer to before storing it.
func TestPipelinesParse(t *testing.T) {
	if _, err := handler.Parse("pipeline.yaml", Pipeline); err != nil {
		t.Fatal(err)
	}
	p, err := handler.Parse("pipeline-outbound.yaml", PipelineOutbound)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range p.Connectors.Outbound {
		names = append(names, o.Name)
	}
	if want := []string{"billing", "crm-sync", "test-sink", "warehouse"}; !slices.Equal(names, want) {
		t.Fatalf("destinations %v, want %v", names, want)
	}
	if d := p.Connectors.Destination("crm-sync").Delivery; d.MaxAttempts != 1000 || d.BackoffMax != 2*time.Second {
		t.Fatalf("crm-sync delivers with %+v", d)
	}
	if steps := p.Chain("customers"); len(steps) == 0 || steps[0] != "outbound" {
		t.Fatalf("the customers chain is %v, want an outbound step first", steps)
	}
}

// pipeline-kafka.yaml makes crm a kafka connector, and keeps
// pipeline.yaml's routes and chains.
func TestPipelineKafkaParses(t *testing.T) {
	p, err := handler.Parse("pipeline-kafka.yaml", PipelineKafka)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := p.Connectors.Connector("crm").Spec.(*connector.KafkaInbound)
	if !ok || k.Topic != "crm-customers" || k.MaxBatch != 16 {
		t.Fatalf("crm is %+v", p.Connectors.Connector("crm"))
	}
	plain, err := handler.Parse("pipeline.yaml", Pipeline)
	if err != nil {
		t.Fatal(err)
	}
	for _, chain := range []string{"discard", "customers", "orders", "fulfilment", "shipments", "products"} {
		if got, want := p.Chain(chain), plain.Chain(chain); !slices.Equal(got, want) || len(got) == 0 {
			t.Errorf("chain %s is %v, pipeline.yaml's %v", chain, got, want)
		}
	}
}

// The dc pipelines are pipeline.yaml with their destinations renamed for
// the cluster and a connectors section: the same routes and chains, so
// that ingest workloads run on them; dc1 and dc2 replicate to each
// other, dc2-receive only takes dc1's changes.
func TestPipelinesDCParse(t *testing.T) {
	plain, err := handler.Parse("pipeline.yaml", Pipeline)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file, dc string
		src      []byte
		to       string // the cluster it replicates to, if any
	}{
		{"pipeline-dc1.yaml", "dc1", PipelineDC1, "dc2"},
		{"pipeline-dc2.yaml", "dc2", PipelineDC2, "dc1"},
		{"pipeline-dc2-receive.yaml", "dc2", PipelineDC2Receive, ""},
	} {
		p, err := handler.Parse(tc.file, tc.src)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.Connectors.Connector("replication").Spec.(*connector.ReplicationInbound); !ok {
			t.Errorf("%s: inbound replication is %+v", tc.file, p.Connectors.Connector("replication"))
		}
		var repl []string
		for _, o := range p.Connectors.Outbound {
			if r, ok := o.Spec.(*connector.Replication); ok {
				repl = append(repl, r.Cluster)
				if o.Name != "to-"+r.Cluster || r.Types != nil || r.Connector != "replication" {
					t.Errorf("%s: destination %s is %+v", tc.file, o.Name, r)
				}
			} else if o.Name != tc.dc+"-test-sink" && o.Name != tc.dc+"-billing" && o.Name != tc.dc+"-warehouse" {
				t.Errorf("%s: destination %s is not named for %s", tc.file, o.Name, tc.dc)
			}
		}
		if want := []string{tc.to}; tc.to != "" && !slices.Equal(repl, want) || tc.to == "" && len(repl) > 0 {
			t.Errorf("%s replicates to %v, want %q", tc.file, repl, tc.to)
		}
		for _, chain := range []string{"discard", "customers", "orders", "fulfilment", "shipments", "products"} {
			got, want := p.Chain(chain), plain.Chain(chain)
			if len(got) != len(want) || len(got) == 0 {
				t.Errorf("%s: chain %s is %v, pipeline.yaml's %v", tc.file, chain, got, want)
			}
		}
	}
}
